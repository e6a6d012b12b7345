#!/usr/bin/env python3
"""Print-ready QR signage: register signs from a CSV (or take them from the database) and write, per sign, the QR
as PNG (print resolution) and SVG, a placard PNG, and one imposed PDF with cut marks for the print shop.

Run `python qr_generator.py --help`. Decisions (see docs/qr.md): error correction H with a 4-module quiet zone;
placards are rendered with Pillow (FreeType draws the CFF outlines of Noto Sans CJK; reportlab's TrueType embedding
cannot) and placed 1:1 in the PDF by reportlab; a label whose characters the font lacks stops the run instead of
printing boxes.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

# Run with the project's virtualenv whatever `python` started us (the README says `python qr_generator.py …`).
_VENV = Path(__file__).resolve().parent / ".venv"
if __name__ == "__main__" and (_VENV / "bin" / "python").exists() and Path(sys.prefix).resolve() != _VENV.resolve():
    os.execv(str(_VENV / "bin" / "python"), [str(_VENV / "bin" / "python"), __file__, *sys.argv[1:]])  # noqa: S606

import numpy as np  # noqa: E402
import qrcode  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

DEFAULT_HEADLINE = "扫码找公厕 · 停车 · 治安岗亭"
DEFAULT_OPERATOR = "江北区城市管理局 · 百姓城管"
DEFAULT_INSTRUCTION = "微信扫一扫，或在「百姓城管」公众号发送下方编号"
PLACARD_SIZES = {"A4": (210.0, 297.0), "A5": (148.0, 210.0), "A6": (105.0, 148.0)}
SHEET_SIZES = {"A4": (210.0, 297.0), "A3": (297.0, 420.0), "SRA3": (320.0, 450.0)}
QUIET_ZONE = 4  # modules of white around the symbol, as ISO/IEC 18004 asks
LOGO_FRACTION = 0.22  # logo side / symbol side: ~5% of the modules, well inside H's 30% recovery
BAND_COLOR = (20, 84, 160)
INK = (25, 25, 25)
GREY = (95, 95, 95)
# Where Debian/Ubuntu put a CJK font (fonts-noto-cjk, fonts-wqy-*); fc-list is asked after these.
FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK*.ttc",
    "/usr/share/fonts/**/NotoSansCJK*",
    "/usr/share/fonts/**/wqy*.tt[cf]",
)
CJK_PROBE = "扫码找公厕停车治安岗亭江北区城市管理局百姓"
MM_PER_INCH = 25.4
SEPARATORS = " ·・、，,-—/"  # where a long label may wrap (dropped at the line ends)


class FontNotFound(RuntimeError):
    """No usable CJK font: the placards would show boxes instead of characters."""


class MissingGlyphs(ValueError):
    """Text with characters the font cannot draw."""


# --------------------------------------------------------------------------------------------------------- fonts


@dataclass(frozen=True)
class CJKFont:
    """One face of a font file (a .ttc holds several; we pick the Simplified Chinese one)."""

    path: str
    index: int = 0

    @lru_cache(maxsize=64)  # noqa: B019 - a handful of sizes per run; the instances live for the whole run
    def at(self, size_px: int) -> ImageFont.FreeTypeFont:
        """The face at a pixel size (cached: layouts ask for the same sizes for every sign)."""
        return ImageFont.truetype(self.path, max(1, int(size_px)), index=self.index)

    def missing(self, text: str) -> list[str]:
        """The characters of `text` this face draws as .notdef (a box) or not at all."""
        return [ch for ch in dict.fromkeys(text) if not _has_glyph(self, ch)]


@lru_cache(maxsize=20000)
def _has_glyph(font: CJKFont, ch: str) -> bool:
    if unicodedata.category(ch) in ("Zs", "Cc", "Cf"):
        return True
    face = font.at(48)
    mask = face.getmask(ch)
    if not any(bytes(mask)):
        return False  # some fonts have an empty .notdef
    return (mask.size, bytes(mask)) != _notdef(font)


@lru_cache(maxsize=16)
def _notdef(font: CJKFont) -> tuple:
    mask = font.at(48).getmask("\U0010fffd")  # a private-use code point no font maps: renders glyph 0
    return mask.size, bytes(mask)


def _pick_face(path: str) -> CJKFont:
    """The Simplified Chinese face of a collection (Noto's .ttc starts with the Japanese one), else the first."""
    faces = []
    for index in range(12):
        try:
            faces.append((index, ImageFont.truetype(path, 12, index=index).getname()[0] or ""))
        except OSError:
            break
    if not faces:
        raise FontNotFound(f"无法读取字体文件 {path}")
    for index, family in faces:
        if re.search(r"\bSC\b", family) and "Mono" not in family:
            return CJKFont(path, index)
    return CJKFont(path, faces[0][0])


def _usable(path: str) -> CJKFont | None:
    try:
        font = _pick_face(path)
    except FontNotFound:
        return None
    return None if font.missing(CJK_PROBE) else font


def _fc_list() -> list[str]:
    exe = shutil.which("fc-list")
    if not exe:
        return []
    try:
        out = subprocess.run(  # noqa: S603 - fixed arguments, the executable found on PATH
            [exe, ":lang=zh", "file"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return sorted(line.split(":")[0].strip() for line in out.stdout.splitlines() if line.strip())


def find_cjk_fonts(explicit: str | None = None, candidates=FONT_CANDIDATES, use_fc_list: bool = True):
    """(regular-or-bold font for text, bold font for headlines): from --font/QR_FONT, else the system's CJK font.

    Raises FontNotFound with what to do when nothing usable is found.
    """
    if explicit:
        if not os.path.isfile(explicit):
            raise FontNotFound(f"字体文件不存在：{explicit}（--font 或 QR_FONT）")
        font = _pick_face(explicit)
        lacking = font.missing(CJK_PROBE)
        if lacking:
            raise FontNotFound(f"字体 {explicit} 没有中文字形（缺少 {''.join(lacking)}）；请换一个 CJK 字体")
        return font, font
    paths: list[str] = []
    for pattern in candidates:
        paths.extend(sorted(glob.glob(pattern, recursive=True)))
    if use_fc_list:
        paths.extend(_fc_list())
    usable = [f for f in (_usable(p) for p in dict.fromkeys(paths)) if f is not None]
    if not usable:
        raise FontNotFound(
            "找不到中文字体，无法生成标牌（不会用方框代替汉字）。请安装 fonts-noto-cjk"
            "（apt-get install fonts-noto-cjk），或用 --font PATH / 环境变量 QR_FONT 指定一个 CJK 字体文件。"
        )
    bold = next((f for f in usable if "bold" in Path(f.path).name.lower()), usable[0])
    regular = next((f for f in usable if "regular" in Path(f.path).name.lower()), bold)
    return regular, bold


# ------------------------------------------------------------------------------------------------------------ QR


def qr_matrix(url: str) -> np.ndarray:
    """The QR modules for `url` (True = dark), error correction H, with the 4-module quiet zone included."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_H, border=QUIET_ZONE, box_size=1)
    qr.add_data(url)
    qr.make(fit=True)
    return np.array(qr.get_matrix(), dtype=bool)


def logo_box(matrix: np.ndarray) -> tuple[int, int]:
    """(first module, side in modules) of the centred square the logo covers, white padding included."""
    symbol = matrix.shape[0] - 2 * QUIET_ZONE
    side = max(3, int(symbol * LOGO_FRACTION)) | 1  # odd, so it centres on a module
    start = (matrix.shape[0] - side) // 2
    return start, side


def qr_image(matrix: np.ndarray, module_px: int, logo: Image.Image | None = None) -> Image.Image:
    """The QR as an image with whole-pixel modules (crisp at print resolution); the logo pasted in the centre."""
    pixels = np.where(matrix, 0, 255).astype(np.uint8)
    pixels = np.kron(pixels, np.ones((module_px, module_px), dtype=np.uint8))
    img = Image.fromarray(pixels, "L")
    if logo is None:
        return img
    img = img.convert("RGB")
    start, side = logo_box(matrix)
    pad = module_px // 2
    box = (start * module_px, start * module_px, (start + side) * module_px, (start + side) * module_px)
    img.paste((255, 255, 255), box)
    inner = side * module_px - 2 * pad
    fitted = logo.copy()
    fitted.thumbnail((inner, inner), Image.Resampling.LANCZOS)
    x = box[0] + (side * module_px - fitted.width) // 2
    y = box[1] + (side * module_px - fitted.height) // 2
    img.paste(fitted, (x, y), fitted if fitted.mode == "RGBA" else None)
    return img


def qr_svg(matrix: np.ndarray, size_mm: float, logo_png: bytes | None = None) -> str:
    """The QR as SVG (one path, in module units, `size_mm` wide), with the logo embedded when given."""
    n = matrix.shape[0]
    parts = []
    for y, row in enumerate(matrix):
        x = 0
        while x < n:
            if row[x]:
                end = x
                while end < n and row[end]:
                    end += 1
                parts.append(f"M{x} {y}h{end - x}v1h-{end - x}z")
                x = end
            else:
                x += 1
    extra = ""
    if logo_png is not None:
        import base64

        start, side = logo_box(matrix)
        data = base64.b64encode(logo_png).decode()
        extra = (f'<rect x="{start}" y="{start}" width="{side}" height="{side}" fill="#fff"/>'
                 f'<image x="{start + 0.5}" y="{start + 0.5}" width="{side - 1}" height="{side - 1}" '
                 f'href="data:image/png;base64,{data}"/>')
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" '
            f'width="{size_mm:.2f}mm" height="{size_mm:.2f}mm" viewBox="0 0 {n} {n}" shape-rendering="crispEdges">'
            f'<rect width="{n}" height="{n}" fill="#fff"/><path fill="#000" d="{"".join(parts)}"/>{extra}</svg>\n')


# ------------------------------------------------------------------------------------------------------ placards


def parse_size(value: str, named: dict) -> tuple[float, float]:
    """'A6' (a name in `named`) or '100x150' (width x height in mm) -> (width, height) in mm."""
    key = value.strip().upper()
    if key in named:
        return named[key]
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*[xX×*]\s*(\d+(?:\.\d+)?)\s*(mm)?\s*", value)
    if not m:
        raise argparse.ArgumentTypeError(f"unknown size {value!r}: use {', '.join(named)} or WxH in mm")
    w, h = float(m.group(1)), float(m.group(2))
    if not (50 <= w <= 1000 and 50 <= h <= 1000):
        raise argparse.ArgumentTypeError("placard/sheet sides must be between 50 and 1000 mm")
    return w, h


@dataclass
class Texts:
    """The fixed texts of every placard."""

    headline: str = DEFAULT_HEADLINE
    instruction: str = DEFAULT_INSTRUCTION
    operator: str = DEFAULT_OPERATOR


@dataclass
class PlacardRenderer:
    """Lays out placards of one size at one resolution; the parts shared by every sign are drawn once."""

    size_mm: tuple[float, float]
    dpi: int
    regular: CJKFont
    bold: CJKFont
    texts: Texts = field(default_factory=Texts)
    logo: Image.Image | None = None

    def __post_init__(self):
        w, h = self.size_mm
        self.width, self.height = self.px(w), self.px(h)
        margin = min(w, h) * 0.06
        # Rows from the top (mm): headline band, label, QR (whatever is left), instruction, code, operator.
        heights = {"band": h * 0.13, "label": h * 0.12, "qr": 0.0, "instruction": h * 0.05, "code": h * 0.10,
                   "operator": h * 0.075}
        heights["qr"] = h - sum(heights.values()) - margin * 0.5
        self.rows: dict[str, tuple[float, float]] = {}
        y = 0.0
        for name, height in heights.items():
            self.rows[name] = (y, height)
            y += height
        self.margin_px = self.px(margin)
        self.text_width = self.width - 2 * self.margin_px
        self.qr_side_mm = min(w - 2 * margin, heights["qr"])
        self.template = self._template()

    def px(self, mm: float) -> int:
        """Millimetres to pixels at this resolution."""
        return round(mm / MM_PER_INCH * self.dpi)

    def _centre_y(self, row: str) -> int:
        top, height = self.rows[row]
        return self.px(top + height / 2)

    def _fit(self, font: CJKFont, text: str, max_mm: float, width_px: int) -> ImageFont.FreeTypeFont:
        size = self.px(max_mm)
        length = font.at(size).getlength(text) or 1
        if length > width_px:
            size = int(size * width_px / length)
            while size > 1 and font.at(size).getlength(text) > width_px:
                size -= 1
        return font.at(size)

    def _template(self) -> Image.Image:
        img = Image.new("RGB", (self.width, self.height), "white")
        draw = ImageDraw.Draw(img)
        band = self.rows["band"][1]
        draw.rectangle((0, 0, self.width, self.px(band)), fill=BAND_COLOR)
        t = self.texts
        draw.text((self.width // 2, self._centre_y("band")), t.headline, fill="white", anchor="mm",
                  font=self._fit(self.bold, t.headline, band * 0.42, self.text_width))
        draw.text((self.width // 2, self._centre_y("instruction")), t.instruction, fill=INK, anchor="mm",
                  font=self._fit(self.regular, t.instruction, self.rows["instruction"][1] * 0.55, self.text_width))
        op_top, op_h = self.rows["operator"]
        line_y = self.px(op_top + op_h * 0.15)
        draw.line((self.margin_px, line_y, self.width - self.margin_px, line_y), fill=(180, 180, 180),
                  width=max(1, self.px(0.3)))
        draw.text((self.width // 2, self.px(op_top + op_h * 0.55)), t.operator, fill=GREY, anchor="mm",
                  font=self._fit(self.regular, t.operator, op_h * 0.38, self.text_width))
        return img

    def label_lines(self, label: str) -> tuple[list[str], ImageFont.FreeTypeFont]:
        """The label on one line, or two when one line would need a font below 70% of the full size."""
        max_mm = self.rows["label"][1] * 0.42
        one = self._fit(self.bold, label, max_mm, self.text_width)
        if one.size >= self.px(max_mm) * 0.7 or len(label) < 4:
            return [label], one
        cut = _break_point(label)
        lines = [label[:cut].rstrip(SEPARATORS), label[cut:].lstrip(SEPARATORS)]
        longest = max(lines, key=lambda s: self.bold.at(100).getlength(s))
        return lines, self._fit(self.bold, longest, max_mm * 0.8, self.text_width)

    def module_px(self, matrix: np.ndarray) -> int:
        """Whole pixels per module so the QR fits its row (never below 1)."""
        return max(1, self.px(self.qr_side_mm) // matrix.shape[0])

    def row_box(self, row: str) -> tuple[int, int, int, int]:
        """A row's pixel box (left, top, right, bottom) across the whole placard."""
        top, height = self.rows[row]
        return 0, self.px(top), self.width, self.px(top + height)

    def render(self, code: str, label: str, matrix: np.ndarray) -> Placard:
        """The placard of one sign."""
        img = self.template.copy()
        draw = ImageDraw.Draw(img)
        lines, font = self.label_lines(label)
        centre = self._centre_y("label")
        step = int(font.size * 1.2)
        for i, line in enumerate(lines):
            y = centre + int((i - (len(lines) - 1) / 2) * step)
            draw.text((self.width // 2, y), line, fill=INK, anchor="mm", font=font)
        module_px = self.module_px(matrix)
        qr = qr_image(matrix, module_px, self.logo)
        qr_top, qr_h = self.rows["qr"]
        origin = ((self.width - qr.width) // 2, self.px(qr_top) + (self.px(qr_h) - qr.height) // 2)
        img.paste(qr, origin)
        spaced = " ".join(code)
        draw.text((self.width // 2, self._centre_y("code")), spaced, fill=INK, anchor="mm",
                  font=self._fit(self.bold, spaced, self.rows["code"][1] * 0.62, self.text_width))
        return Placard(code, img, matrix, origin, module_px)


@dataclass
class Placard:
    """A rendered placard and where its QR sits (the PDF redraws the QR as vectors)."""

    code: str
    image: Image.Image
    matrix: np.ndarray
    qr_origin: tuple[int, int]  # top-left pixel of the QR, quiet zone included
    module_px: int

    def pdf_parts(self, renderer: PlacardRenderer) -> PdfParts:
        """What the PDF needs beyond the shared template: the variable rows (greyscale) and the QR geometry."""
        strips = []
        for row in ("label", "code"):
            box = renderer.row_box(row)
            strips.append((box, self.image.crop(box).convert("L")))
        logo = None
        if renderer.logo is not None:
            start, side = logo_box(self.matrix)
            ox, oy = self.qr_origin
            box = (ox + start * self.module_px, oy + start * self.module_px,
                   ox + (start + side) * self.module_px, oy + (start + side) * self.module_px)
            logo = (box, self.image.crop(box))
        return PdfParts(self.code, strips, self.matrix, self.qr_origin, self.module_px, logo)


@dataclass
class PdfParts:
    """The per-sign pieces of a placard in the PDF (small enough to pass between processes)."""

    code: str
    strips: list[tuple[tuple[int, int, int, int], Image.Image]]
    matrix: np.ndarray
    qr_origin: tuple[int, int]
    module_px: int
    logo: tuple[tuple[int, int, int, int], Image.Image] | None


def _break_point(label: str) -> int:
    """Where to split a long label in two: a space or separator nearest the middle, else the middle."""
    middle = len(label) // 2
    candidates = [i if ch in "（(" else i + 1 for i, ch in enumerate(label)
                  if ch in SEPARATORS + "（(" and 0 < i < len(label) - 1]
    if candidates:
        best = min(candidates, key=lambda i: abs(i - middle))
        if abs(best - middle) <= len(label) // 4:
            return best
    return middle


# ----------------------------------------------------------------------------------------------------------- PDF


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

EPILOG = """\
examples:
  python qr_generator.py signs.csv --out print/            register the CSV's signs, write their files and a PDF
  python qr_generator.py --from-db --only-new --out print/ every registered sign not yet printed into print/
  python qr_generator.py --from-db --codes 7KQ3MX,H4T9PA --size A5 --logo logo.png --out reprint/

CSV (UTF-8, header row): label,lat,lng required; crs (wgs84|gcj02|bd09), external_id, note optional.
  Rows are registered as signs in one transaction: a bad row stops the run with every bad line listed and nothing
  registered. A row whose external_id (or, without one, the same label at the same coordinates) is already
  registered reuses that sign, so running the same file twice creates nothing new.
Files per sign in --out, named by its code: CODE.png (the QR at --dpi), CODE.svg (the QR, vector),
  CODE-placard.png (the placard at --dpi); plus one PDF of this run's placards, several per sheet with cut marks.
Font: --font, else $QR_FONT, else the system's Noto Sans CJK (fonts-noto-cjk) or another CJK font from fc-list.
  Without a CJK font, or with text the font cannot draw, the run stops (exit 3) rather than print boxes.
Exit status: 0 done, 1 bad input (CSV rows, unknown codes), 2 bad options, 3 font problem.
"""


def build_parser() -> argparse.ArgumentParser:
    """The command line (every option documented: `--help`)."""
    p = argparse.ArgumentParser(
        prog="qr_generator.py",
        description="Print-ready QR signs for 百姓城管: each QR opens PUBLIC_BASE_URL/s/<code>, the page with the "
        "nearest public toilets, parking and police kiosks.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = p.add_argument_group("which signs")
    src.add_argument("csv", nargs="?", type=Path, help="CSV of sign locations to register and print (see below)")
    src.add_argument("--from-db", action="store_true", help="print signs already registered instead of reading a CSV")
    src.add_argument("--codes", default=None, metavar="A,B",
                     help="with --from-db: only these sign codes (comma-separated; all must exist)")
    src.add_argument("--only-new", action="store_true",
                     help="only signs that have no placard in --out yet (CODE-placard.png missing)")
    src.add_argument("--crs", default="wgs84", metavar="CRS",
                     help="coordinate system of CSV rows without a crs column: wgs84 (GPS), gcj02 (Tencent/Amap), "
                     "bd09 (Baidu) (default: %(default)s)")
    out = p.add_argument_group("output")
    out.add_argument("--out", type=Path, default=Path("qr-out"), metavar="DIR",
                     help="directory for the files (created if missing; default: %(default)s)")
    out.add_argument("--base-url", default=None, metavar="URL",
                     help="address the QR opens, before /s/<code> (default: the app's PUBLIC_BASE_URL)")
    out.add_argument("--dpi", type=int, default=300, help="print resolution of the PNG files (default: %(default)s)")
    out.add_argument("--size", default="A6", metavar="SIZE",
                     help="placard size: A4, A5, A6 or WxH in mm, e.g. 120x170 (default: %(default)s)")
    out.add_argument("--sheet", default=None, metavar="SIZE",
                     help="PDF sheet: A4, A3, SRA3 or WxH in mm (default: the smallest that holds two or more "
                     "placards with room for cut marks)")
    out.add_argument("--pdf", default="placards.pdf", metavar="NAME",
                     help="file name of the combined PDF inside --out (default: %(default)s)")
    out.add_argument("--no-pdf", action="store_true", help="do not write the combined PDF")
    look = p.add_argument_group("placard text and look")
    look.add_argument("--headline", default=DEFAULT_HEADLINE, help="headline in the top band (default: %(default)s)")
    look.add_argument("--operator", default=DEFAULT_OPERATOR, help="operator's name at the foot (default: %(default)s)")
    look.add_argument("--instruction", default=DEFAULT_INSTRUCTION,
                      help="one-line instruction above the code (default: %(default)s)")
    look.add_argument("--logo", type=Path, default=None, metavar="FILE",
                      help="small image put in the QR's centre (about 5%% of its modules, covered by error "
                      "correction H)")
    look.add_argument("--font", default=None, metavar="PATH",
                      help="CJK font file (.ttf/.otf/.ttc) for the placard; default: $QR_FONT, else Noto Sans CJK")
    p.add_argument("--jobs", type=int, default=0, metavar="N",
                   help="worker processes for rendering (default: one per CPU, up to 4, for 40 signs or more)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _fail(code: int, *lines: str) -> int:
    for line in lines:
        print(line, file=sys.stderr)
    return code


def main(argv: list[str] | None = None, app=None) -> int:
    """Run the command; returns the exit status. `app`: an existing Flask app (tests), else create_app()."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if bool(args.csv) == bool(args.from_db):
        parser.error("give a CSV file or --from-db (one of them)")
    if args.codes and not args.from_db:
        parser.error("--codes needs --from-db")
    if not 72 <= args.dpi <= 1200:
        parser.error("--dpi must be between 72 and 1200")
    if args.jobs < 0:
        parser.error("--jobs must be 0 (automatic) or more")
    from app.geo import UnknownCRS, normalize_crs

    try:
        args.crs = normalize_crs(args.crs)
    except UnknownCRS as exc:
        parser.error(str(exc))
    try:
        size = parse_size(args.size, PLACARD_SIZES)
        sheet = parse_size(args.sheet, SHEET_SIZES) if args.sheet else None
        imposition(size, sheet)
    except (argparse.ArgumentTypeError, ValueError) as exc:
        parser.error(str(exc))
    try:
        regular, bold = find_cjk_fonts(args.font or os.environ.get("QR_FONT") or None)
    except FontNotFound as exc:
        return _fail(3, f"错误：{exc}")
    texts = Texts(args.headline.strip(), args.instruction.strip(), args.operator.strip())
    for name, text in (("--headline", texts.headline), ("--instruction", texts.instruction),
                       ("--operator", texts.operator)):
        lacking = regular.missing(text) + bold.missing(text)
        if lacking:
            return _fail(3, f"错误：字体 {bold.path} 画不出 {name} 中的字：{''.join(dict.fromkeys(lacking))}")
    logo = None
    if args.logo:
        try:
            logo = Image.open(args.logo).convert("RGBA")
        except OSError as exc:
            parser.error(f"cannot read --logo {args.logo}: {exc}")

    from app.poi.signs import SignImportError, SignNotFound, read_sign_csv

    rows = []
    if args.csv:
        try:
            rows = read_sign_csv(args.csv.read_text(encoding="utf-8-sig"))
        except OSError as exc:
            return _fail(1, f"错误：无法读取 {args.csv}：{exc}")
        except UnicodeDecodeError:
            return _fail(1, f"错误：{args.csv} 不是 UTF-8 编码（请在表格软件中另存为 CSV UTF-8）")
        except SignImportError as exc:
            return _report_rows(exc)
        glyph_errors = [(r["line"], f"字体画不出名称中的字：{''.join(bold.missing(r.get('label', '')))}")
                        for r in rows if bold.missing(r.get("label", ""))]
        if glyph_errors:
            return _report_rows(SignImportError(glyph_errors))

    if app is None:
        from dotenv import load_dotenv

        from app import create_app
        from app.config import ConfigError

        load_dotenv(Path(__file__).resolve().parent / ".env")  # the settings `python3 tasks.py serve` wrote

        try:
            app = create_app()
        except ConfigError as exc:
            return _fail(2, f"错误：应用配置不完整（与服务器使用相同的环境变量）：{exc}")
    from contextlib import nullcontext

    from flask import current_app, has_app_context

    same = has_app_context() and current_app._get_current_object() is app
    with nullcontext() if same else app.app_context():
        try:
            args.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return _fail(2, f"错误：无法创建输出目录 {args.out}：{exc}")
        printed = {p.name[: -len("-placard.png")] for p in args.out.glob("*-placard.png")}
        created = reused = 0
        try:
            if args.csv:
                created, reused, signs = register_and_filter(rows, args.crs, args.only_new, printed)
            else:
                from app.poi.signs import signs_for

                codes = args.codes.split(",") if args.codes else None
                signs = signs_for(codes=codes, only_new=args.only_new, printed=printed)
        except SignImportError as exc:
            return _report_rows(exc)
        except SignNotFound as exc:
            return _fail(1, f"错误：{exc}")
        plan = [(s.code, s.label) for s in signs]
        base_url = (args.base_url or app.config["PUBLIC_BASE_URL"]).rstrip("/")
    bad = [f"标识 {code}「{label}」：字体画不出 {''.join(bold.missing(label))}" for code, label in plan
           if bold.missing(label)]
    if bad:
        return _fail(3, *bad, "没有生成任何文件。请换一个字体（--font）或改名称。")

    renderer = PlacardRenderer(size, args.dpi, regular, bold, texts, logo)
    jobs = args.jobs if args.jobs else (min(os.cpu_count() or 1, 4) if len(plan) >= 40 else 1)
    written, pdf = write_all(plan, renderer, base_url, args, sheet, jobs)
    print(f"完成：新登记 {created} 个标识，复用 {reused} 个；写出 {written} 个文件到 {args.out}")
    if pdf is not None:
        print(f"PDF：{args.out / args.pdf}（{pdf.pages} 页，每页 {len(pdf.corners)} 张，"
              f"纸张 {pdf.sheet[0]:g}×{pdf.sheet[1]:g} mm，按 100% 打印）")
    return 0


def register_and_filter(rows, crs, only_new, printed):
    """Register the CSV rows; with only_new keep the signs that have no placard yet."""
    from app.poi.signs import register_signs

    created, reused, signs = register_signs(rows, crs_default=crs)
    if only_new:
        signs = [s for s in signs if s.code not in printed]
    return created, reused, signs


def _report_rows(exc) -> int:
    lines = [f"第 {line} 行：{reason}" for line, reason in exc.errors]
    return _fail(1, *lines, f"共 {len(exc.errors)} 处问题，没有登记任何标识。")


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


if __name__ == "__main__":
    sys.exit(main())
