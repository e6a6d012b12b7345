"""The labelled phrasings the category model learns from, in app/reports/data/category_corpus.txt.

The held-out set (category_heldout.txt) has the same format but is read only by app.reports.suggest.evaluate: the
trainer never opens it (a test watches the files training opens).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
CORPUS_PATH = DATA_DIR / "category_corpus.txt"

NOT_A_CASE = "none"  # the class of greetings, thanks and questions: no category is suggested for them
_HEADER = re.compile(r"\[([A-Z]\d{4}|none)\]")


@dataclass(frozen=True)
class Example:
    """One labelled phrasing."""

    text: str
    code: str
    source: str  # corpus | keyword | correction


def read_examples(path: Path) -> list[Example]:
    """Parse a corpus file: "[CODE]" (or "[none]") opens a class, each other non-empty, non-"#" line is a phrasing."""
    out: list[Example] = []
    code = None
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        header = _HEADER.fullmatch(line)
        if header:
            code = header.group(1)
        elif code is None:
            raise ValueError(f"{path.name}:{n}: a phrasing before the first [CODE] line")
        else:
            out.append(Example(line, code, "corpus"))
    return out
