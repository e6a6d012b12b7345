"""The per-case facts rollup (table case_facts): one row per case, the aggregation of its whole trail.

The assessment's indicators come from per-case facts of the trail (last handling, last undo, counts of re-work …).
Aggregating ~500,000 trail entries for a month took seconds at 1,000,000 cases, so every case keeps its facts in one
narrow row, written **in the same transaction as each trail entry**: a flush hook on the session recomputes the rows
of the cases whose trail entries the flush wrote (whichever use case wrote them: the workflow, 督办, return visits,
seeds or tests), from the same column expressions the trail aggregation uses, so the two cannot drift apart.

Two transactions never rewrite one case's row at once: every use case that appends to a trail first updates the
case itself (its version: an optimistic check and a row lock held to the commit), so the second one's flush waits
for the first one's commit and then aggregates both entries.

The row also carries a copy of the case columns the assessment selects and groups by (CASE_COLUMNS: department,
deadline, submission time, grid, category, channel), so a period's cohort and its facts are read from this one narrow
table by its own indexes, without joining 80,000 cases of a month back to `reports`. The same hook refreshes a row
when one of those columns of a case changes without a trail entry (`differences` checks both, after every test).

`last_event_at` (the newest entry) is what keeps the "as of the period's end" rule exact: a case whose last entry is
before the period's end has exactly these facts at that end; only the others are aggregated from the trail
(assessment_facts.period_facts).

This module imports no other module of app.reports (models.py imports it), so it names report_events by its table.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import ForeignKey, Index, Integer, String, delete, event, func, insert, inspect, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.extensions import UTCDateTime, db
from app.reports import month_facts
from app.reports.facts_columns import (  # noqa: F401  (re-exported: the rollup's definitions)
    CANCELS,
    CASE_COLUMNS,
    FACT_NAMES,
    REWORK,
    SATISFIED,
    UNDO,
    VISIT_NAMES,
    TrailFacts,
    fact_columns,
    trail_table,
    visit_columns,
)


class CaseFacts(TrailFacts, db.Model):
    """The facts of one case's whole trail (see the module's docstring); written by the flush hook only."""

    __tablename__ = "case_facts"
    # A period's cohort: cases due in it (departments) or reported in it (areas, the centre); migration facts0002.
    __table_args__ = (Index("ix_case_facts_deadline_at", "deadline_at"),
                      Index("ix_case_facts_submitted_at", "submitted_at"),
                      # A period's return visits: cases with one visit by its time, the few with more (facts0003).
                      Index("ix_case_facts_visits", "n_visits", "last_visit"))

    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), primary_key=True, autoincrement=False)
    last_event_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # Return visits (VISIT_NAMES; migration facts0003).
    last_visit: Mapped[datetime | None] = mapped_column(UTCDateTime)
    n_visits: Mapped[int] = mapped_column(Integer)
    n_satisfied: Mapped[int] = mapped_column(Integer)
    # Copies of the case's columns (CASE_COLUMNS); no foreign keys: reports holds the truth and its constraints.
    department_id: Mapped[int | None] = mapped_column(Integer)
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    grid_id: Mapped[int | None] = mapped_column(Integer)
    category_id: Mapped[int | None] = mapped_column(Integer)
    channel: Mapped[str | None] = mapped_column(String(16))


def _fresh_rows():
    """Every case's row as its trail and its columns give it now (grouped by case: add a WHERE to narrow it)."""
    ev, reports = trail_table(), db.metadata.tables["reports"]
    copied = [reports.c[n] for n in CASE_COLUMNS]
    return (
        select(ev.c.report_id, *fact_columns(ev), *visit_columns(ev), func.max(ev.c.created_at).label("last_event_at"),
               *copied)
        .join_from(ev, reports, reports.c.id == ev.c.report_id)
        .group_by(ev.c.report_id, *copied)
    )


ROW_NAMES = ["report_id", *FACT_NAMES, "n_departments", *VISIT_NAMES, "last_event_at", *CASE_COLUMNS]


def refresh_statement(report_ids=None):
    """INSERT … SELECT of the rows of the cases `report_ids` (a list or a subquery; None: every case)."""
    q = _fresh_rows()
    if report_ids is not None:
        q = q.where(trail_table().c.report_id.in_(report_ids))
    return insert(CaseFacts.__table__).from_select(ROW_NAMES, q)


def refresh(connection, report_ids, earliest: dict | None = None) -> None:
    """Recompute the rows of these cases from their trail, on `connection` (the caller's transaction), and keep their
    month-start snapshots (month_facts.keep; `earliest`: report id → the earliest time of new entries)."""
    cf = CaseFacts.__table__
    ids = sorted(set(report_ids))
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        old = dict(connection.execute(
            delete(cf).where(cf.c.report_id.in_(chunk)).returning(cf.c.report_id, cf.c.last_event_at)).all())
        new = dict(connection.execute(refresh_statement(chunk).returning(cf.c.report_id, cf.c.last_event_at)).all())
        month_facts.keep(connection, old, new, {k: v for k, v in (earliest or {}).items() if k in old or k in new})


def rebuild(connection) -> None:
    """Every case's row from the trail (after a bulk load that bypassed the session, e.g. bench/); the month-start
    snapshots are dropped (month_facts.snapshot_month writes them again)."""
    connection.execute(delete(month_facts.CaseFactsAt.__table__))
    connection.execute(delete(CaseFacts.__table__))
    connection.execute(refresh_statement())


def differences(connection) -> list[int]:
    """Ids of the cases whose stored row differs from their trail's aggregation (empty when the rollup is current)."""
    cf = CaseFacts.__table__
    fresh = {row[0]: tuple(row[1:]) for row in connection.execute(_fresh_rows())}
    stored = {row[0]: tuple(row[1:]) for row in connection.execute(select(*(cf.c[n] for n in ROW_NAMES)))}
    rows = {k for k in set(fresh) | set(stored) if fresh.get(k) != stored.get(k)}
    return sorted(rows | set(month_facts.differences(connection)))


@event.listens_for(Session, "after_flush")
def _keep_current(session: Session, flush_context) -> None:
    """After a flush that wrote trail entries, or changed a copied column of a case, recompute their cases' rows in
    the same transaction."""
    touched, earliest = set(), {}
    for is_new, group in ((True, session.new), (False, session.dirty), (False, session.deleted)):
        for obj in group:
            table = getattr(obj, "__tablename__", None)
            if table == "report_events" and obj.report_id is not None:
                touched.add(obj.report_id)
                # A new entry's time; a changed or deleted one may invalidate any snapshot of its case.
                at = (obj.created_at if is_new else None) or month_facts.EARLIEST
                at = at if at.tzinfo else at.replace(tzinfo=UTC)
                earliest[obj.report_id] = min(at, earliest.get(obj.report_id, at))
            elif table == "reports" and obj in session.dirty and _copied_changed(obj):
                touched.add(obj.id)
    if touched:
        refresh(session.connection(), touched, earliest)


def _copied_changed(report) -> bool:
    """Whether this flush changed one of the case's columns that its row copies."""
    attrs = inspect(report).attrs
    return any(attrs[name].history.has_changes() for name in CASE_COLUMNS)
