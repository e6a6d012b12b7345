"""The trail's per-case facts as SQL expressions: what the rollup (case_facts), its month-start snapshots
(month_facts) and the as-of-a-date aggregation of the assessment all compute, from one definition.

This module imports no other module of app.reports (models.py imports the rollup, which imports this).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, and_, case, cast, func
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import UTCDateTime, db

UNDO = ("send_back", "unresolved", "reopen")  # entries after which an earlier handling no longer stands
REWORK = ("send_back", "unresolved")  # 返工
CANCELS = ("cancel", "mark_duplicate", "invalidate")
# The case's own columns copied into its row (kept current by the flush hook), for selecting and grouping.
CASE_COLUMNS = ("department_id", "deadline_at", "submitted_at", "grid_id", "category_id", "channel")
SATISFIED = ("satisfied", "basically_satisfied")  # a return visit's ratings that count as satisfied (满意率)
# A case's return visits (feedback entries), kept current like the facts: the newest one's time and how many there are,
# and how many were satisfied. A period's visits are then read from the rollup (assessment._return_visits).
VISIT_NAMES = ("last_visit", "n_visits", "n_satisfied")
FACT_NAMES = ("last_handle", "last_undo", "cancelled_at", "last_close", "last_unclose", "first_register",
              "first_dispatch", "n_dispatch", "n_rework", "n_supervise")


class TrailFacts:
    """The columns FACT_NAMES and n_departments, for the tables that store them (case_facts, case_facts_at)."""

    last_handle: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_undo: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_close: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_unclose: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_register: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_dispatch: Mapped[datetime | None] = mapped_column(UTCDateTime)
    n_dispatch: Mapped[int] = mapped_column(Integer)
    n_rework: Mapped[int] = mapped_column(Integer)
    n_supervise: Mapped[int] = mapped_column(Integer)
    n_departments: Mapped[int] = mapped_column(Integer)  # distinct departments dispatched to (re-routes)


def _count(expr):
    """count() as the rollup's integer type. PostgreSQL's count() is bigint: a UNION ALL of rollup rows (integer)
    and trail aggregations (bigint) would cast every rollup row in a projection over each step of the union instead
    of reading the union as one flat Append (about 40 % of a month's by-department pass; docs/benchmarks.md)."""
    return cast(func.count(expr), Integer)


def fact_columns(ev, with_departments: bool = True) -> list:
    """The aggregate columns (labelled as CaseFacts' columns) over trail entries `ev` (report_events or an alias),
    to be grouped by ev.report_id. The one definition both the rollup and the as-of-a-date aggregation use."""
    at = ev.c.created_at

    def last(*actions):
        return func.max(case((ev.c.action.in_(actions), at)))

    def count(*actions):
        return _count(case((ev.c.action.in_(actions), 1)))

    cols = [
        last("handle").label("last_handle"),
        last(*UNDO).label("last_undo"),
        last(*CANCELS).label("cancelled_at"),
        last("close").label("last_close"),
        last("reopen", "unresolved").label("last_unclose"),
        func.min(case((ev.c.action == "register", at))).label("first_register"),
        func.min(case((ev.c.action == "dispatch", at))).label("first_dispatch"),
        count("dispatch").label("n_dispatch"),
        count(*REWORK).label("n_rework"),
        count("supervise").label("n_supervise"),
    ]
    if with_departments:
        department = ev.c.data["department"].as_string()
        cols.append(_count(func.distinct(case((ev.c.action == "dispatch", department)))).label("n_departments"))
    return cols


def visit_columns(ev) -> list:
    """VISIT_NAMES as aggregates over trail entries `ev` (grouped by ev.c.report_id)."""
    visit = ev.c.action == "feedback"
    satisfied = and_(visit, ev.c.data["rating"].as_string().in_(SATISFIED))
    return [
        func.max(case((visit, ev.c.created_at))).label("last_visit"),
        _count(case((visit, 1))).label("n_visits"),
        _count(case((satisfied, 1))).label("n_satisfied"),
    ]


def trail_table():
    """report_events as a Table (the ORM class lives in models.py, which imports this module)."""
    return db.metadata.tables["report_events"]
