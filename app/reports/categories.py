"""Category seed data and `suggest_category`: from what citizens write to ranked category candidates."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

from sqlalchemy import select

from app.cache import cached, invalidate
from app.extensions import db
from app.reports.models import Category, CategoryKeyword, Department

DATA_DIR = Path(__file__).resolve().parent / "data"
CACHE_NAME = "category-keywords"
CONFIDENT = 0.6  # at or above this, a channel may take the top suggestion without asking


@dataclass(frozen=True)
class Suggestion:
    """One candidate category for a text."""

    code: str
    name: str
    score: float
    confidence: float
    matched: tuple[str, ...]


def _load_json(name: str) -> dict:
    return json.loads((DATA_DIR / name).read_text(encoding="utf-8"))


def seed_departments() -> int:
    """Insert the shipped departments that do not exist yet (by code); returns how many were added."""
    rows = _load_json("departments.json")["departments"]
    existing = {d.code: d for d in db.session.scalars(select(Department))}
    added = 0
    for code, name, kind, _parent in rows:
        if code not in existing:
            existing[code] = Department(code=code, name=name, kind=kind)
            db.session.add(existing[code])
            added += 1
    db.session.flush()
    for code, _name, _kind, parent in rows:
        if parent:
            existing[code].parent_id = existing[parent].id
    db.session.commit()
    return added


def seed_categories() -> int:
    """Insert the shipped categories and keywords that do not exist yet; staff edits are kept."""
    data = _load_json("categories.json")
    departments = {d.code: d.id for d in db.session.scalars(select(Department))}
    existing = {c.code: c for c in db.session.scalars(select(Category))}
    added = 0
    for cls in data["classes"]:
        parent = existing.get(cls["code"])
        if parent is None:
            parent = Category(code=cls["code"], name=cls["name"], kind=cls["kind"], time_limit_hours=48)
            db.session.add(parent)
            db.session.flush()
            existing[parent.code] = parent
            added += 1
        for code, name, dept, hours, keywords in cls["children"]:
            if code in existing:
                continue
            cat = Category(
                code=code,
                name=name,
                kind=cls["kind"],
                parent_id=parent.id,
                time_limit_hours=hours,
                default_department_id=departments.get(dept) if dept else None,
            )
            for word in keywords:
                kw, _, weight = word.partition(":")
                cat.keywords.append(CategoryKeyword(keyword=kw, weight=float(weight or 1.0)))
            db.session.add(cat)
            existing[code] = cat
            added += 1
    db.session.commit()
    invalidate(CACHE_NAME)
    return added


@dataclass(frozen=True)
class _KeywordTable:
    rows: list[tuple[str, float, str, str]]  # (keyword, weight, category code, category name), longest first
    by_first_char: dict[str, list[int]]  # a keyword's first character -> its positions in rows

    def candidates(self, body: str) -> list[tuple[str, float, str, str]]:
        """The keywords that can occur in `body` (their first character does), longest first as in rows."""
        positions = sorted(chain.from_iterable(self.by_first_char.get(c, ()) for c in set(body)))
        return [self.rows[i] for i in positions]


def _load_keywords() -> _KeywordTable:
    """The active keywords, longest first, indexed by first character (a description reads a few dozen of the
    table's hundreds instead of all of them)."""
    found = db.session.execute(
        select(CategoryKeyword.keyword, CategoryKeyword.weight, Category.code, Category.name)
        .join(Category, Category.id == CategoryKeyword.category_id)
        .where(Category.active.is_(True))
    ).all()
    rows = sorted(((normalize(r[0]), r[1], r[2], r[3]) for r in found if normalize(r[0])), key=lambda r: -len(r[0]))
    by_first_char: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_first_char.setdefault(row[0][0], []).append(i)
    return _KeywordTable(rows, by_first_char)


_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)


def normalize(text: str) -> str:
    """Fold width and case and drop spaces and punctuation, so 「井 盖，没了！」 reads as 井盖没了."""
    return _NOISE.sub("", unicodedata.normalize("NFKC", text or "").lower())


def suggest_category(text: str, limit: int = 3) -> list[Suggestion]:
    """Rank categories for a free-text description.

    Keywords are matched longest first and a matched stretch of text is claimed, so 路灯井盖 counts once for
    路灯井盖 and not again for 路灯 and 井盖. A category scores the sum of weight × length of its matches
    (longer phrases are more specific). Confidence is the top score's share of all scores, damped when the
    evidence is thin (a single two-character word).
    """
    body = normalize(text)
    if not body:
        return []
    claimed = [False] * len(body)
    scores: dict[str, float] = {}
    names: dict[str, str] = {}
    matched: dict[str, list[str]] = {}
    for keyword, weight, code, name in cached(CACHE_NAME, _load_keywords).candidates(body):
        start = body.find(keyword)
        while start != -1:
            end = start + len(keyword)
            if not any(claimed[start:end]):
                claimed[start:end] = [True] * len(keyword)
                scores[code] = scores.get(code, 0.0) + weight * len(keyword)
                names[code] = name
                matched.setdefault(code, []).append(keyword)
            start = body.find(keyword, end)
    if not scores:
        return []
    total = sum(scores.values())
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    out = []
    for code, score in ranked:
        confidence = (score / total) * min(1.0, score / 4.0)
        out.append(Suggestion(code, names[code], round(score, 2), round(confidence, 3), tuple(matched[code])))
    return out
