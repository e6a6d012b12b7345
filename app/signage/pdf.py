"""The print-ready PDF: placards at 100% on a sheet, crop marks, the QR redrawn as vectors."""

from __future__ import annotations

from pathlib import Path

from app.signage.placard import PdfParts, PlacardRenderer

SHEET_SIZES = {"A4": (210.0, 297.0), "A3": (297.0, 420.0), "SRA3": (320.0, 450.0)}


def imposition(placard_mm: tuple[float, float], sheet: tuple[float, float] | None,
               margin: float = 10.0, gutter: float = 8.0) -> tuple[tuple[float, float], list[tuple[float, float]]]:
    """(sheet size, lower-left corners in mm) placing as many placards as fit with room for cut marks.

    With no sheet given, the smallest of A4, A3, SRA3 (either orientation) that holds two or more; else the one
    that holds most. Placards are never scaled: print at 100%.
    """
    pw, ph = placard_mm

    def slots(sw: float, sh: float) -> tuple[int, int]:
        cols = int((sw - 2 * margin + gutter) // (pw + gutter))
        rows = int((sh - 2 * margin + gutter) // (ph + gutter))
        return cols, rows

    options = [sheet] if sheet else list(SHEET_SIZES.values())
    choices = []
    for w, h in options:
        for sw, sh in ((w, h), (h, w)):
            cols, rows = slots(sw, sh)
            choices.append((cols * rows, (sw, sh), cols, rows))
    if sheet is None:
        several = [c for c in choices if c[0] >= 2]
        best = several[0] if several else max(choices, key=lambda c: c[0])
    else:
        best = max(choices, key=lambda c: c[0])
    count, (sw, sh), cols, rows = best
    if count == 0:
        raise ValueError(f"a {pw:g}x{ph:g} mm placard does not fit on a {sw:g}x{sh:g} mm sheet with margins")
    x0 = (sw - cols * pw - (cols - 1) * gutter) / 2
    y0 = (sh - rows * ph - (rows - 1) * gutter) / 2
    corners = [(x0 + c * (pw + gutter), y0 + (rows - 1 - r) * (ph + gutter)) for r in range(rows) for c in range(cols)]
    return (sw, sh), corners


class PlacardPDF:
    """Several placards per sheet at 100% size, with crop marks at every corner, streamed page by page."""

    def __init__(self, path: Path, placard_mm: tuple[float, float], sheet: tuple[float, float] | None, title: str):
        from reportlab import rl_config
        from reportlab.lib.units import mm
        from reportlab.pdfgen.canvas import Canvas

        rl_config.useA85 = 0  # binary streams: a third smaller and faster than ASCII85
        self.mm = mm
        self.placard_mm = placard_mm
        self.sheet, self.corners = imposition(placard_mm, sheet)
        self.canvas = Canvas(str(path), pagesize=(self.sheet[0] * mm, self.sheet[1] * mm), pageCompression=1)
        self.canvas.setTitle(title)
        self.canvas.setCreator("百姓城管 qr_generator.py")
        self.slot = 0
        self.pages = 0
        self._form_ready = False

    def add(self, parts: PdfParts, renderer: PlacardRenderer) -> None:
        """Place the next placard (a new sheet when the current one is full).

        The parts every placard shares are one form drawn by reference; per sign only the label and code rows
        (greyscale strips cut from the rendered placard) and the QR as vector rectangles are added: small and fast,
        and the QR stays sharp at any printer resolution.
        """
        from reportlab.lib.utils import ImageReader

        c = self.canvas
        if self.slot == len(self.corners):
            c.showPage()
            self.slot = 0
        if self.slot == 0:
            self.pages += 1
        x, y = self.corners[self.slot]
        w, h = self.placard_mm
        pt = 72.0 / renderer.dpi  # points per pixel
        height_px = renderer.height
        if not self._form_ready:
            c.beginForm("placard_template")
            c.drawImage(ImageReader(renderer.template), 0, 0, renderer.width * pt, height_px * pt)
            c.endForm()
            self._form_ready = True
        c.saveState()
        c.translate(x * self.mm, y * self.mm)
        c.doForm("placard_template")
        for (left, top, right, bottom), strip in parts.strips:
            c.drawImage(ImageReader(strip), left * pt, (height_px - bottom) * pt, (right - left) * pt,
                        (bottom - top) * pt)
        self._vector_qr(parts, height_px, pt)
        if parts.logo is not None:
            (left, top, right, bottom), image = parts.logo
            c.drawImage(ImageReader(image), left * pt, (height_px - bottom) * pt, (right - left) * pt,
                        (bottom - top) * pt)
        c.restoreState()
        self._crop_marks(x, y, w, h)
        self.slot += 1

    def _vector_qr(self, placard: PdfParts, height_px: int, pt: float) -> None:
        """The dark modules as filled rectangles (runs along each row), at the raster QR's exact place."""
        c = self.canvas
        path = c.beginPath()
        m = placard.module_px * pt
        ox, oy = placard.qr_origin
        left, top = ox * pt, (height_px - oy) * pt
        n = placard.matrix.shape[0]
        for row, modules in enumerate(placard.matrix):
            col = 0
            while col < n:
                if modules[col]:
                    end = col
                    while end < n and modules[end]:
                        end += 1
                    # a hair taller than a module, so viewers show no seams between rows
                    path.rect(left + col * m, top - (row + 1) * m - 0.01, (end - col) * m, m + 0.02)
                    col = end
                else:
                    col += 1
        c.setFillColorRGB(0, 0, 0)
        c.drawPath(path, stroke=0, fill=1)

    def _crop_marks(self, x: float, y: float, w: float, h: float) -> None:
        c, m = self.canvas, self.mm
        c.setLineWidth(0.25)
        c.setStrokeColorRGB(0, 0, 0)
        offset, length = 2.0, 4.0
        for cx, dx in ((x, -1), (x + w, 1)):
            for cy, dy in ((y, -1), (y + h, 1)):
                c.line((cx + dx * offset) * m, cy * m, (cx + dx * (offset + length)) * m, cy * m)
                c.line(cx * m, (cy + dy * offset) * m, cx * m, (cy + dy * (offset + length)) * m)

    def close(self) -> None:
        """Write the file."""
        self.canvas.save()


# ----------------------------------------------------------------------------------------------------------- CLI
