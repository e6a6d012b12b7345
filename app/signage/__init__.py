"""QR signs on paper: fonts, QR symbols, placard layout, the print PDF and batch writing (qr_generator.py is the CLI).

Everything a placard needs is here; the staff CLI only parses options, registers the signs through app.poi and
hands the plan to `write_all`.
"""

from app.signage.batch import render_sign, write_all
from app.signage.fonts import CJK_PROBE, FONT_CANDIDATES, CJKFont, FontNotFound, MissingGlyphs, _notdef, find_cjk_fonts
from app.signage.pdf import SHEET_SIZES, PlacardPDF, imposition
from app.signage.placard import (
    DEFAULT_HEADLINE,
    DEFAULT_INSTRUCTION,
    DEFAULT_OPERATOR,
    PLACARD_SIZES,
    Placard,
    PlacardRenderer,
    Texts,
    headline_for,
    word_boundaries,
)
from app.signage.qr import QUIET_ZONE, qr_image, qr_matrix, qr_svg

__all__ = [
    "CJK_PROBE", "DEFAULT_HEADLINE", "DEFAULT_INSTRUCTION", "DEFAULT_OPERATOR", "FONT_CANDIDATES", "PLACARD_SIZES",
    "QUIET_ZONE", "SHEET_SIZES", "CJKFont", "FontNotFound", "MissingGlyphs", "Placard", "PlacardPDF",
    "PlacardRenderer", "Texts", "_notdef", "find_cjk_fonts", "headline_for", "imposition", "qr_image", "qr_matrix",
    "qr_svg", "render_sign", "word_boundaries", "write_all",
]
