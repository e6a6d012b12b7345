"""Category seed data and `suggest_category`: from what citizens write to ranked category candidates.

`suggest_category` asks the trained model (app/reports/suggest) when one is published, and the keyword table only
when none is: the table is the fallback, never a second opinion over the model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import numpy as np
from flask import current_app
from sqlalchemy import select

from app.cache import cached, invalidate, invalidate_on_change
from app.extensions import db
from app.reports.models import Category, CategoryKeyword, Department
from app.reports.suggest.corpus import NOT_A_CASE
from app.reports.suggest.features import normalize
from app.reports.suggest.model import CategoryModel
from app.reports.suggest.store import current_model

DATA_DIR = Path(__file__).resolve().parent / "data"
CACHE_NAME = "category-keywords"
ACTIVE_CACHE_NAME = "category-active"
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


def suggest_category(text: str, limit: int = 3) -> list[Suggestion]:
    """Rank categories for a free-text description: by the published model, or by keywords when there is none."""
    model = current_model()
    if model is None:
        return keyword_suggestions(text, limit)
    return model_suggestions(model, text, limit)


def _load_active() -> dict[str, str]:
    """Active categories, code -> current name (staff may rename or retire a category after training)."""
    return dict(db.session.execute(select(Category.code, Category.name).where(Category.active.is_(True))).all())


invalidate_on_change(Category, ACTIVE_CACHE_NAME)


def model_suggestions(model: CategoryModel, text: str, limit: int = 3) -> list[Suggestion]:
    """The model's most probable active categories, down to CATEGORY_MODEL_MIN_PROBABILITY.

    score and confidence are the calibrated probability; matched lists the words that weighed most for it. A text
    with no feature the model knows, or that the model finds most likely not a case at all (a greeting, a question
    about the service), gets no suggestion, like a text no keyword matches.
    """
    probabilities, pos, values = model.probabilities(text)
    ranked = np.argsort(-probabilities, kind="stable")
    if not len(pos) or model.classes[ranked[0]] == NOT_A_CASE:
        return []
    active = cached(ACTIVE_CACHE_NAME, _load_active)
    floor = current_app.config["CATEGORY_MODEL_MIN_PROBABILITY"]
    out = []
    for k in ranked:
        p = float(probabilities[k])
        if p < floor or len(out) >= limit:
            break
        code = str(model.classes[k])
        if code in active:
            out.append(Suggestion(code, active[code], round(p, 3), round(p, 3), model.evidence(pos, values, k)))
    return out


def keyword_suggestions(text: str, limit: int = 3) -> list[Suggestion]:
    """Rank categories for a free-text description by the keyword table (the fallback when no model is trained).

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
