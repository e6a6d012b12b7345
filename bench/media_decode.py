"""What storing one hostile or large image costs: time and the process's peak memory (run each case in its own
process: `python bench/media_decode.py png` / `jpeg`). The PNG is 7300×5440 in one palette colour (16 KB, 39.7 MP);
the JPEG is 6000×4000 noise (5.5 MB).

`python bench/media_decode.py profile [rounds]`: one 12 MP camera-like photo (bench/report_upload.camera_like_jpeg)
step by step, the old path of app.media.store_image (before issue 15's changes, written out here in Pillow calls)
and the current one, interleaved round by round so both see the same machine load; medians in ms. Then the pixel
difference of the two shrink filters against the q85 JPEG's own error, and app.media.store_image as a whole."""

from __future__ import annotations

import hashlib
import io
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from PIL import Image, ImageOps

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


def _old_steps(data: bytes, lap) -> None:
    """app.media before issue 15: exif_transpose copies, LANCZOS, the thumbnail decoded again from the stored JPEG."""
    img = Image.open(io.BytesIO(data))
    img.load()
    lap("decode")
    img = ImageOps.exif_transpose(img)  # a full-size copy even when there is no orientation tag
    lap("exif_transpose")
    lap("convert (RGB: none)")
    img.thumbnail((2560, 2560), Image.Resampling.LANCZOS)
    lap("resize to 2560")
    img.info = {}
    out = io.BytesIO()
    img.save(out, "JPEG", exif=b"", comment=b"", quality=85, optimize=True)
    clean = out.getvalue()
    lap("encode q85 optimize")
    sha = hashlib.sha256(clean).hexdigest()
    lap("sha256")
    small = Image.open(io.BytesIO(clean))
    small.thumbnail((320, 320), Image.Resampling.LANCZOS)
    small.info = {}
    small.save(io.BytesIO(), "JPEG", exif=b"", comment=b"", quality=80)
    lap("thumbnail")
    with Image.open(io.BytesIO(clean)) as final:
        assert final.size and sha
    lap("size from the stored JPEG")


def _new_steps(data: bytes, lap) -> None:
    """app.media now: orientation in place, BICUBIC up to 2×, the thumbnail from the clean pixels in memory."""
    img = Image.open(io.BytesIO(data))
    img.load()
    lap("decode")
    ImageOps.exif_transpose(img, in_place=True)
    lap("exif_transpose")
    lap("convert (RGB: none)")
    bicubic = max(img.size) <= 2 * 2560  # app.media._resample_for
    img.thumbnail((2560, 2560), Image.Resampling.BICUBIC if bicubic else Image.Resampling.LANCZOS, reducing_gap=2.0)
    lap("resize to 2560")
    img.info = {}
    out = io.BytesIO()
    img.save(out, "JPEG", exif=b"", comment=b"", quality=85, optimize=True)
    clean = out.getvalue()
    lap("encode q85 optimize")
    sha = hashlib.sha256(clean).hexdigest()
    lap("sha256")
    img.thumbnail((320, 320), Image.Resampling.LANCZOS, reducing_gap=2.0)
    img.save(io.BytesIO(), "JPEG", exif=b"", comment=b"", quality=80)
    lap("thumbnail")
    assert img.size and sha
    lap("size from the stored JPEG")


def _timed(steps, data: bytes) -> dict[str, float]:
    laps, last = {}, [time.perf_counter()]

    def lap(name):
        now = time.perf_counter()
        laps[name] = (now - last[0]) * 1e3
        last[0] = now

    steps(data, lap)
    return laps


def profile(rounds: int) -> None:
    """The step-by-step breakdown, the filter comparison and store_image as a whole."""
    from bench.report_upload import camera_like_jpeg

    data = camera_like_jpeg(0)
    runs = {"old": [], "new": []}
    for _ in range(rounds):
        runs["old"].append(_timed(_old_steps, data))
        runs["new"].append(_timed(_new_steps, data))
    print(f"12 MP camera-like JPEG ({len(data) / 1e6:.1f} MB), median of {rounds} rounds, ms:")
    print(f"{'step':28} {'old':>7} {'new':>7}")
    for step in runs["old"][0]:
        old, new = (statistics.median(r[step] for r in runs[k]) for k in ("old", "new"))
        print(f"{step:28} {old:7.1f} {new:7.1f}")
    totals = {k: statistics.median(sum(r.values()) for r in v) for k, v in runs.items()}
    print(f"{'total':28} {totals['old']:7.1f} {totals['new']:7.1f}")
    out = io.BytesIO()
    img = Image.open(io.BytesIO(data))
    img.save(out, "JPEG", quality=85, optimize=True)
    opt, plain = io.BytesIO(), io.BytesIO()
    small = img.resize((2560, 1920), Image.Resampling.BICUBIC)
    t0 = time.perf_counter()
    small.save(plain, "JPEG", quality=85)
    t1 = time.perf_counter()
    small.save(opt, "JPEG", quality=85, optimize=True)
    t2 = time.perf_counter()
    print(f"encode 2560 px q85: optimize=False {(t1 - t0) * 1e3:.0f} ms {len(plain.getvalue()) / 1e3:.0f} KB, "
          f"optimize=True {(t2 - t1) * 1e3:.0f} ms {len(opt.getvalue()) / 1e3:.0f} KB")
    filters(Image.open(io.BytesIO(data)).convert("RGB"), "camera-like 12 MP")
    app = create_app({"APP_ENV": "testing", "SECRET_KEY": "bench", "MEDIA_ROOT": tempfile.mkdtemp(),
                      "DATABASE_URL": "sqlite://"})
    with app.app_context():
        took = []
        for _ in range(rounds):
            app.config["MEDIA_ROOT"] = tempfile.mkdtemp()  # a fresh store: original and thumbnail written each time
            t0 = time.perf_counter()
            media.store_image(data)
            took.append((time.perf_counter() - t0) * 1e3)
    print(f"app.media.store_image (current tree, writes included): median {statistics.median(took):.0f} ms")


def filters(img: Image.Image, name: str, factor: float = 0.64) -> None:
    """Mean / 99th-percentile / max absolute difference (levels of 255) of BICUBIC and BILINEAR against LANCZOS, and
    the q85 JPEG's own error on the LANCZOS output, at the 12 MP → 2560 px factor."""
    size = (round(img.width * factor), round(img.height * factor))
    ref = img.resize(size, Image.Resampling.LANCZOS)
    a = np.asarray(ref, dtype=np.int16)
    for f in ("BICUBIC", "BILINEAR"):
        d = np.abs(a - np.asarray(img.resize(size, getattr(Image.Resampling, f)), dtype=np.int16))
        print(f"{name}: LANCZOS vs {f}: mean {d.mean():.2f}, p99 {np.percentile(d, 99):.0f}, max {d.max()}")
    out = io.BytesIO()
    ref.save(out, "JPEG", quality=85, optimize=True)
    d = np.abs(a - np.asarray(Image.open(out).convert("RGB"), dtype=np.int16))
    print(f"{name}: q85 JPEG error on the LANCZOS output: mean {d.mean():.2f}, p99 {np.percentile(d, 99):.0f}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "profile":
        profile(int(sys.argv[2]) if len(sys.argv) > 2 else 7)
    else:
        main(sys.argv[1] if len(sys.argv) > 1 else "png")
