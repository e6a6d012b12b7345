"""What storing one hostile or large image costs: time and the process's peak memory (run each case in its own
process: `python bench/media_decode.py png` / `jpeg`). The PNG is 7300×5440 in one palette colour (16 KB, 39.7 MP);
the JPEG is 6000×4000 noise (5.5 MB)."""

from __future__ import annotations

import io
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image

from app import create_app, media


def sample(kind: str) -> bytes:
    """The image to store."""
    buf = io.BytesIO()
    if kind == "png":
        Image.new("P", (7300, 5440), 3).save(buf, "PNG")
    else:
        Image.effect_noise((6000, 4000), 20).convert("RGB").save(buf, "JPEG", quality=60)
    return buf.getvalue()


def main(kind: str) -> None:
    """Print size, outcome, seconds and the growth of the peak RSS."""
    data = sample(kind)
    app = create_app({"APP_ENV": "testing", "SECRET_KEY": "bench", "MEDIA_ROOT": tempfile.mkdtemp(),
                      "DATABASE_URL": "sqlite://"})
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with app.app_context():
        started = time.perf_counter()
        try:
            media.store_image(data)
            outcome = "stored"
        except media.MediaRejected as exc:
            outcome = f"refused ({exc.code})"
        seconds = time.perf_counter() - started
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
    print(f"{kind}: {len(data) / 1e3:.0f} KB, {outcome}, {seconds:.2f} s, peak RSS +{grown:.0f} MB")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "png")
