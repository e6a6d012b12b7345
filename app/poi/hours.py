"""Opening hours as published (「24小时」, 「06:00-22:00」, 「06:00-12:00,14:00-22:00」, 「22:00-02:00」); open now?

The parsed form is a JSON-friendly list of [start, end] minutes after local midnight; a range that runs past midnight
has end > 1440 (22:00-02:00 is [1320, 1560]) and also counts in the early hours of the next day. Times are local
(Asia/Shanghai by default): POIs are in China and their hours are published in local time.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from zoneinfo import ZoneInfo

DAY = 24 * 60
ALL_DAY = [[0, DAY]]
TZ = ZoneInfo("Asia/Shanghai")

_ALL_DAY_WORDS = {
    "24小时", "24h", "24小时营业", "24小时开放", "全天", "全天开放", "全天24小时", "00:00-24:00", "0:00-24:00",
}
# Full-width and look-alike characters people type in hours, mapped to the ASCII the grammar below expects.
_NORMALIZE = str.maketrans({"：": ":", "，": ",", "、": ",", "；": ",", ";": ",", "－": "-", "—": "-", "–": "-",
                            "～": "-", "~": "-", "至": "-", "到": "-", "　": " "})
_RANGE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


class InvalidOpeningHours(ValueError):
    """Opening hours text we cannot read."""


def _minutes(hh: str, mm: str, *, end: bool) -> int:
    h, m = int(hh), int(mm)
    if m > 59 or h > 24 or (h == 24 and (m != 0 or not end)):
        raise InvalidOpeningHours(f"营业时间中的 {hh}:{mm} 无效")
    return h * 60 + m


def parse_opening_hours(text: str | None) -> list[list[int]] | None:
    """Parse published hours into [[start_min, end_min], ...]; None for empty text (hours unknown)."""
    if text is None or not text.strip():
        return None
    # NFKC folds full-width digits and punctuation (０６：００，) into ASCII first.
    s = unicodedata.normalize("NFKC", text).strip().translate(_NORMALIZE).replace(" ", "")
    if s.lower() in _ALL_DAY_WORDS:
        return [list(r) for r in ALL_DAY]
    ranges: list[list[int]] = []
    for part in filter(None, s.split(",")):
        m = _RANGE.match(part)
        if m is None:
            raise InvalidOpeningHours(f"营业时间「{text}」无法识别，应写成「24小时」或「06:00-22:00」，多段用逗号分隔")
        start = _minutes(m[1], m[2], end=False)
        end = _minutes(m[3], m[4], end=True)
        if end == start:
            raise InvalidOpeningHours(f"营业时间「{part}」开始和结束相同")
        if end < start:  # runs past midnight
            end += DAY
        ranges.append([start, end])
    if not ranges:
        raise InvalidOpeningHours(f"营业时间「{text}」无法识别")
    ranges.sort()
    return ranges


def is_open(parsed: list[list[int]] | None, at: datetime | None = None, tz: ZoneInfo = TZ) -> bool | None:
    """Open at `at` (aware datetime; default now) in local time; None when the hours are unknown."""
    if parsed is None:
        return None
    local = (at or datetime.now(tz)).astimezone(tz)
    minute = local.hour * 60 + local.minute
    for start, end in parsed:
        if start <= minute < end:
            return True
        if end > DAY and minute < end - DAY:  # yesterday's range still running after midnight
            return True
    return False


def format_hours(parsed: list[list[int]] | None) -> str:
    """Readable form of a parsed value: 「24小时」 or 「06:00-22:00」 (次日 for past midnight)."""
    if parsed is None:
        return "营业时间未知"
    if parsed == ALL_DAY:
        return "24小时"

    def hm(minutes: int) -> str:
        return f"{minutes // 60:02d}:{minutes % 60:02d}"

    return ", ".join(f"{hm(s)}-{'次日' + hm(e - DAY) if e > DAY else hm(e)}" for s, e in parsed)
