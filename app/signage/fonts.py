"""Finding a CJK font that can draw every character of a placard (Noto Sans CJK, WenQuanYi)."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

# Where Debian/Ubuntu put a CJK font (fonts-noto-cjk, fonts-wqy-*); fc-list is asked after these.
FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK*.ttc",
    "/usr/share/fonts/**/NotoSansCJK*",
    "/usr/share/fonts/**/wqy*.tt[cf]",
)
CJK_PROBE = "扫码找公厕停车治安岗亭江北区城市管理局百姓"


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
