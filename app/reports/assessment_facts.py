"""The trail's facts per case up to a period's end: what the assessment's indicators are computed from."""

from __future__ import annotations

from sqlalchemy import Index, case, func, select

from app.extensions import db
from app.reports.models import Report, ReportEvent
from app.reports.periods import Period

GROUPINGS = ("department", "street", "grid", "category", "channel")
UNDO = ("send_back", "unresolved", "reopen")  # entries after which an earlier handling no longer stands
REWORK = ("send_back", "unresolved")  # 返工
CANCELS = ("cancel", "mark_duplicate", "invalidate")
SATISFIED = ("satisfied", "basically_satisfied")
# Declared next to the queries that need them; migration asm0001 creates them. The trail's covering index lets the
# per-case facts come from the index alone; updated_at finds cases changed since a period began.
FACTS_INDEX = Index("ix_report_events_facts", ReportEvent.report_id, ReportEvent.action, ReportEvent.created_at)
UPDATED_INDEX = Index("ix_reports_updated_at", Report.updated_at)


def rate(num: int, den: int) -> float | None:
    """A fraction 0–1 rounded to 4 places, or None when there is nothing to divide by."""
    return round(num / den, 4) if den else None



def seconds_between(later, earlier):
    """Seconds from `earlier` to `later`, on PostgreSQL and on SQLite."""
    if db.engine.dialect.name == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def trail_facts(period: Period, report_ids, with_departments: bool = False):
    """Per case: the trail's facts up to the period's end (last handling, last undo, counts of rework …).

    Without `with_departments` it reads only (report_id, action, created_at): PostgreSQL answers it from the covering
    index ix_report_events_facts alone (an index-only scan); counting re-routes needs the entries' data.
    """
    ev = ReportEvent
    at = ev.created_at

    def last(*actions):
        return func.max(case((ev.action.in_(actions), at)))

    def count(*actions):
        return func.count(case((ev.action.in_(actions), 1)))

    return (
        select(
            ev.report_id.label("report_id"),
            last("handle").label("last_handle"),
            last(*UNDO).label("last_undo"),
            last(*CANCELS).label("cancelled_at"),
            last("close").label("last_close"),
            last("reopen", "unresolved").label("last_unclose"),
            func.min(case((ev.action == "register", at))).label("first_register"),
            func.min(case((ev.action == "dispatch", at))).label("first_dispatch"),
            count("dispatch").label("n_dispatch"),
            count(*REWORK).label("n_rework"),
            count("supervise").label("n_supervise"),
            *(
                [func.count(func.distinct(case((ev.action == "dispatch", ev.data["department"].as_string()))))
                 .label("n_departments")]
                if with_departments
                else []
            ),
        )
        .where(at < period.end, ev.report_id.in_(report_ids))
        .group_by(ev.report_id)
        .subquery()
    )
