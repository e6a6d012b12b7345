"""Screening what citizens write: the city's word list (Aho–Corasick, pyahocorasick) and personal-data masks.

The list is the shipped starter list (data/starter_words.txt) plus the words the city adds in `screen_words`,
minus the starter words it switches off there. Every process builds one automaton and rebuilds it when the table
changes (the versioned cache: a commit that touches `screen_words` bumps it). Matching runs on a folded copy of the
text (full-width → half-width, lower case, no spaces or punctuation), so 「傻 逼」 and 「ＳＢ」 are found too.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import ahocorasick
from sqlalchemy import select

from app.cache import cached, invalidate_on_change
from app.extensions import db
from app.moderation.masks import mask_personal
from app.moderation.models import ScreenWord

STARTER_LIST = Path(__file__).resolve().parent / "data" / "starter_words.txt"
CACHE_NAME = "screen-words"
REASON_LABELS = {"abuse": "辱骂", "threat": "威胁", "ad": "广告", "other": "其他"}
PERSONAL_LABELS = {"phone": "电话号码", "id_card": "身份证号", "plate": "车牌号"}
_FOLD = re.compile(r"[\s\W_]+", re.UNICODE)

invalidate_on_change(ScreenWord, CACHE_NAME)


def fold(text: str) -> str:
    """What matching reads: NFKC, lower case, no spaces or punctuation."""
    return _FOLD.sub("", unicodedata.normalize("NFKC", text or "").lower())


def starter_words() -> dict[str, str]:
    """The shipped list: `word<TAB>reason` lines, # comments."""
    out = {}
    for line in STARTER_LIST.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, reason = line.partition("\t")
        out[fold(word)] = reason.strip() or "other"
    return out


def build_automaton(words: dict[str, str]) -> ahocorasick.Automaton | None:
    """An automaton over folded words, each carrying (word, reason); None for an empty list."""
    automaton = ahocorasick.Automaton()
    for word, reason in words.items():
        if word:
            automaton.add_word(word, (word, reason))
    if len(automaton) == 0:
        return None
    automaton.make_automaton()
    return automaton


def current_words() -> dict[str, str]:
    """Starter words with the city's additions and switch-offs applied."""
    words = starter_words()
    for row in db.session.scalars(select(ScreenWord)):
        key = fold(row.word)
        if row.active:
            words[key] = row.reason
        else:
            words.pop(key, None)
    return words


def _automaton() -> ahocorasick.Automaton | None:
    return cached(CACHE_NAME, lambda: build_automaton(current_words()))


@dataclass(frozen=True)
class Screening:
    """What screening found in one text, and the text as a public surface may show it."""

    words: tuple[tuple[str, str], ...]  # (word, reason) from the list, in order of first appearance
    personal: tuple[str, ...]  # kinds of personal data masked: phone, id_card, plate
    masked: str

    @property
    def flagged(self) -> bool:
        """A listed word was found: a moderator decides before the text is public."""
        return bool(self.words)

    @property
    def reasons(self) -> list[str]:
        """Why, in Chinese, for the moderation queue."""
        out = [f"{REASON_LABELS.get(r, r)}：{w}" for w, r in self.words]
        out += [f"含{PERSONAL_LABELS[k]}（已遮盖）" for k in self.personal]
        return out


def find_words(text: str, automaton: ahocorasick.Automaton | None) -> tuple[tuple[str, str], ...]:
    """Listed words in `text` (folded), each once."""
    if automaton is None:
        return ()
    seen: dict[str, str] = {}
    for _end, (word, reason) in automaton.iter(fold(text)):
        seen.setdefault(word, reason)
    return tuple(seen.items())


def screen(text: str) -> Screening:
    """Screen one description or note written by a citizen."""
    masked, personal = mask_personal(text or "")
    return Screening(words=find_words(text, _automaton()), personal=personal, masked=masked)
