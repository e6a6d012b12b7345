"""Writing a batch of signs: per sign the QR PNG and SVG and the placard PNG, all into one PDF (worker pool)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from PIL import Image

from app.signage.pdf import PlacardPDF
from app.signage.placard import BAND_COLOR, MM_PER_INCH, PdfParts, PlacardRenderer
from app.signage.qr import qr_image, qr_matrix, qr_svg


def _write(path: Path, data: bytes | str | Image.Image, dpi: int = 300) -> None:
    """Write atomically (a crash never leaves a half file that --only-new would take as done)."""
    tmp = path.with_name(path.name + ".tmp")
    if isinstance(data, Image.Image):
        data.save(tmp, "PNG", dpi=(dpi, dpi), compress_level=3)
    elif isinstance(data, str):
        tmp.write_text(data, encoding="utf-8")
    else:
        tmp.write_bytes(data)
    os.replace(tmp, path)


@lru_cache(maxsize=1)
def _placard_palette() -> Image.Image:
    """Every colour a placard without logo uses: greys (ink, antialiasing, the QR) and the band colour to white."""
    colours = []
    for i in range(192):
        v = round(i * 255 / 191)
        colours += [v, v, v]
    for i in range(64):
        t = i / 63
        colours += [round(c + (255 - c) * t) for c in BAND_COLOR]
    palette = Image.new("P", (1, 1))
    palette.putpalette(colours)
    return palette


def render_sign(renderer: PlacardRenderer, out: Path, base_url: str, code: str, label: str,
                logo_png: bytes | None) -> PdfParts:
    """Write one sign's QR PNG and SVG and its placard PNG; return what the PDF needs."""
    matrix = qr_matrix(f"{base_url}/s/{code}")
    module_px = renderer.module_px(matrix)
    _write(out / f"{code}.png", qr_image(matrix, module_px, renderer.logo), renderer.dpi)
    _write(out / f"{code}.svg", qr_svg(matrix, module_px * matrix.shape[0] / renderer.dpi * MM_PER_INCH, logo_png))
    placard = renderer.render(code, label, matrix)
    parts = placard.pdf_parts(renderer)
    image = placard.image
    if renderer.logo is None:
        # A palette PNG encodes 3x faster and half the size; colours move by at most 2% (5 of 255)
        image = image.quantize(palette=_placard_palette(), dither=Image.Dither.NONE)
    _write(out / f"{code}-placard.png", image, renderer.dpi)  # last: its presence means "done"
    return parts


_worker: dict = {}


def _init_worker(renderer: PlacardRenderer, out: Path, base_url: str, logo_png: bytes | None) -> None:
    _worker.update(renderer=renderer, out=out, base_url=base_url, logo_png=logo_png)


def _render_in_worker(item: tuple[str, str]) -> PdfParts:
    w = _worker
    return render_sign(w["renderer"], w["out"], w["base_url"], item[0], item[1], w["logo_png"])


def write_all(plan, renderer: PlacardRenderer, base_url: str, args, sheet, jobs: int = 1):
    """Render and write every sign's files and the PDF; returns (files written, the PDF or None).

    With jobs > 1 the signs are rendered by that many worker processes (PNG encoding is most of the time) while
    this process assembles the PDF in sign order.
    """
    from tqdm import tqdm

    logo_png = None
    if renderer.logo is not None:
        import io

        buf = io.BytesIO()
        renderer.logo.save(buf, "PNG")
        logo_png = buf.getvalue()
    pdf = None
    if plan and not args.no_pdf:
        pdf = PlacardPDF(args.out / args.pdf, renderer.size_mm, sheet, title=renderer.texts.headline)
    bar = tqdm(total=len(plan), desc="标牌", unit="张", disable=True if args.no_progress else None)
    pool = None
    try:
        if jobs > 1 and len(plan) > 1:
            import multiprocessing

            # spawn, not fork: the parent holds database connections a forked child must not inherit
            pool = multiprocessing.get_context("spawn").Pool(
                jobs, initializer=_init_worker, initargs=(renderer, args.out, base_url, logo_png))
            results = pool.imap(_render_in_worker, plan, chunksize=4)
        else:
            results = (render_sign(renderer, args.out, base_url, code, label, logo_png) for code, label in plan)
        for parts in results:
            if pdf is not None:
                pdf.add(parts, renderer)
            bar.update(1)
    except BaseException:
        if pool is not None:
            pool.terminate()
        raise
    finally:
        bar.close()
        if pool is not None:
            pool.close()
            pool.join()
    written = 3 * len(plan)
    if pdf is not None:
        pdf.close()
        written += 1
    return written, pdf
