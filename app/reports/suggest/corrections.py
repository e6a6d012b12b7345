"""Staff corrections: trail entries with action "recategorize" (data {"from": old code or null, "to": new code}).

Each one is a phrasing the suggestion (or the citizen) got wrong, labelled by the staff: the report's description
with the new code becomes a training example (`flask categories train --with-corrections`), and counting them by
the code they were corrected from shows where the suggestion goes wrong most (`flask categories corrections`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import select

from app.extensions import db
from app.reports.models import Report, ReportEvent
from app.reports.suggest.corpus import Example

ACTION = "recategorize"


@dataclass(frozen=True)
class Correction:
    """One recategorisation of a case."""

    report_id: int
    description: str
    from_code: str | None
    to_code: str


def _codes(data) -> tuple[str | None, str | None]:
    if not isinstance(data, dict):
        return None, None
    old, new = data.get("from"), data.get("to")
    return (old if isinstance(old, str) and old else None), (new if isinstance(new, str) and new else None)


def load_corrections() -> list[Correction]:
    """Every recategorisation in the trails, oldest first (entries without a usable "to" are skipped)."""
    rows = db.session.execute(
        select(ReportEvent.report_id, ReportEvent.data, Report.description)
        .join(Report, Report.id == ReportEvent.report_id)
        .where(ReportEvent.action == ACTION)
        .order_by(ReportEvent.id)
    ).all()
    out = []
    for report_id, data, description in rows:
        old, new = _codes(data)
        if new is not None:
            out.append(Correction(report_id, description or "", old, new))
    return out


def correction_examples(corrections: list[Correction]) -> list[Example]:
    """Training examples from corrections: a case's latest correction wins (staff may correct twice)."""
    latest: dict[int, Correction] = {}
    for c in corrections:
        latest[c.report_id] = c
    return [Example(c.description, c.to_code, "correction") for c in latest.values() if c.description.strip()]


def correction_counts(corrections: list[Correction]) -> tuple[Counter, Counter, Counter]:
    """(corrected away from each code, corrected to each code, each from→to pair); None = had no category."""
    away = Counter(c.from_code for c in corrections)
    to = Counter(c.to_code for c in corrections)
    pairs = Counter((c.from_code, c.to_code) for c in corrections)
    return away, to, pairs
