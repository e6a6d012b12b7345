"""The placard layout: headline band, the sign's label, the QR, the instruction, the code, the operator."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from app.poi.services import DEFAULT_CATEGORIES
from app.signage.fonts import CJKFont
from app.signage.qr import logo_box, qr_image


def headline_for(category_names) -> str:
    """The band's text: every category the sign page shows, in its order ("扫码找公厕 · 停车场 · 治安岗亭 · 洗车点")."""
    return "扫码找" + " · ".join(category_names)


DEFAULT_HEADLINE = headline_for(name for _code, name, _icon, _sort in DEFAULT_CATEGORIES)
DEFAULT_OPERATOR = "江北区城市管理局 · 百姓城管"
DEFAULT_INSTRUCTION = "微信扫一扫，或在「百姓城管」公众号发送下方编号"
PLACARD_SIZES = {"A4": (210.0, 297.0), "A5": (148.0, 210.0), "A6": (105.0, 148.0)}
BAND_COLOR = (20, 84, 160)
INK = (25, 25, 25)
GREY = (95, 95, 95)
MM_PER_INCH = 25.4
SEPARATORS = " ·・、，,-—/"  # where a long label may wrap (dropped at the line ends)


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
    """Where to split a long label in two, never inside a word: a space or separator nearest the middle; else the
    word boundary nearest the middle, words found by jieba (the standard Chinese segmenter) where there are no
    spaces; the middle only for a label that is one long word."""
    middle = len(label) // 2
    candidates = [i if ch in "（(" else i + 1 for i, ch in enumerate(label)
                  if ch in SEPARATORS + "（(" and 0 < i < len(label) - 1]
    if candidates:
        best = min(candidates, key=lambda i: abs(i - middle))
        if abs(best - middle) <= len(label) // 4:
            return best
    bounds = word_boundaries(label)
    return min(bounds, key=lambda i: abs(i - middle)) if bounds else middle


def word_boundaries(text: str) -> list[int]:
    """Offsets between words (jieba's segmentation, dictionary only: no guessing of unknown words)."""
    import jieba

    jieba.setLogLevel(60)  # quiet: it logs the dictionary loading
    return [start for _word, start, _end in jieba.tokenize(text, HMM=False) if 0 < start < len(text)]
