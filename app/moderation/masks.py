"""Personal data in what citizens write, masked before it reaches a public surface.

Three kinds, by the formats in use in mainland China: mobile numbers (1[3-9]x, 11 digits, with or without +86 and
separators) and landlines with an area code (0xx(x)-xxxxxxx(x)); resident ID numbers (GB 11643: 18 characters, a
valid date of birth and the ISO 7064 MOD 11-2 check character); motor-vehicle plates (GA 36: a province character, a
letter, then five characters — six for new-energy plates, D/F first or last — or four and 挂/学/警/港/澳).
"""

from __future__ import annotations

import re
from datetime import date

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_PLATE_CHAR = "[A-HJ-NP-Z0-9]"  # plates use neither I nor O
PLATE = re.compile(
    rf"(?<![A-Za-z0-9])([{PROVINCES}][A-HJ-NP-Z])[·•\s-]?"
    rf"((?:[DF]{_PLATE_CHAR}{{5}}|{_PLATE_CHAR}{{5}}[DF]?|{_PLATE_CHAR}{{4}}[挂学警港澳]))(?![A-Za-z0-9])",
    re.IGNORECASE,
)
MOBILE = re.compile(r"(?<![\d+])(?:(?:\+|00)?86[-\s]?)?(1[3-9]\d)[-\s]?(\d{4})[-\s]?(\d{4})(?!\d)")
LANDLINE = re.compile(r"(?<!\d)(\(?0\d{2,3}\)?)[-\s]?(\d{7,8})(?!\d)")
ID_CARD = re.compile(r"(?<![0-9A-Za-z])([1-9]\d{5})((?:18|19|20)\d{2})(\d{2})(\d{2})(\d{3})([0-9Xx])(?![0-9A-Za-z])")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def id_card_valid(number: str) -> bool:
    """Whether an 18-character resident ID number has a real date of birth and the right check character."""
    if not re.fullmatch(r"\d{17}[\dXx]", number):
        return False
    try:
        date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == number[17].upper()


def _mask_id(m: re.Match) -> str:
    number = m.group(0)
    if not id_card_valid(number):
        return number
    return number[:3] + "*" * 13 + number[-2:]


def mask_personal(text: str) -> tuple[str, tuple[str, ...]]:
    """The text with ID numbers, phone numbers and plates masked, and which kinds were found."""
    found: list[str] = []

    def note(kind: str, replacement):
        def repl(m: re.Match) -> str:
            out = replacement(m)
            if out != m.group(0) and kind not in found:
                found.append(kind)
            return out

        return repl

    text = ID_CARD.sub(note("id_card", _mask_id), text or "")
    text = MOBILE.sub(note("phone", lambda m: f"{m.group(1)}****{m.group(3)}"), text)
    text = LANDLINE.sub(note("phone", lambda m: f"{m.group(1)}-****{m.group(2)[-4:]}"), text)
    text = PLATE.sub(note("plate", lambda m: f"{m.group(1).upper()}***{m.group(2)[-2:].upper()}"), text)
    return text, tuple(found)
