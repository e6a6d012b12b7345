"""The trail's facts per case up to a period's end: what the assessment's indicators are computed from."""

from __future__ import annotations

from sqlalchemy import Index, func, select, union_all

from app.extensions import db
from app.reports.case_facts import CANCELS, FACT_NAMES, REWORK, UNDO, CaseFacts, fact_columns
from app.reports.models import Report, ReportEvent
from app.reports.periods import Period

__all__ = ["CANCELS", "GROUPINGS", "REWORK", "SATISFIED", "UNDO", "period_facts", "rate", "seconds_between",
           "trail_facts"]

GROUPINGS = ("department", "street", "grid", "category", "channel")
SATISFIED = ("satisfied", "basically_satisfied")
# Declared next to the queries that need them; migration asm0001 creates them. The trail's covering index lets the
# per-case facts come from the index alone; updated_at finds cases changed since a period began.
FACTS_INDEX = Index("ix_report_events_facts", ReportEvent.report_id, ReportEvent.action, ReportEvent.created_at)
# (updated_at, deadline_at): "changed since the period began, due before it" is checked inside the index (facts0001).
UPDATED_INDEX = Index("ix_reports_updated_deadline", Report.updated_at, Report.deadline_at)
# Entries of one kind in a period (return visits for 满意率, 「群众反映未解决」 on the dashboard); migration facts0001.
ACTION_AT_INDEX = Index("ix_report_events_action_at", ReportEvent.action, ReportEvent.created_at)


def rate(num: int, den: int) -> float | None:
    """A fraction 0–1 rounded to 4 places, or None when there is nothing to divide by."""
    return round(num / den, 4) if den else None



def seconds_between(later, earlier):
    """Seconds from `earlier` to `later`, on PostgreSQL and on SQLite."""
    if db.engine.dialect.name == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def trail_select(period: Period, cases, with_departments: bool = False, only=None):
    """Per case of `cases` (a CTE with an `id` column and the case columns the caller needs): those columns and the
    trail's facts up to the period's end (last handling, last undo, counts of rework …). `only`: a further condition.

    Without `with_departments` it reads only (report_id, action, created_at): PostgreSQL answers it from the covering
    index ix_report_events_facts alone (an index-only scan); counting re-routes needs the entries' data.
    """
    ev = ReportEvent.__table__
    q = select(*cases.c, *fact_columns(ev, with_departments)).join_from(cases, ev, ev.c.report_id == cases.c.id)
    if only is not None:
        q = q.where(only)
    return q.where(ev.c.created_at < period.end).group_by(*cases.c)


def trail_facts(period: Period, cases, with_departments: bool = False):
    """trail_select as a subquery: the facts aggregated from the trail alone (the reference the rollup must equal)."""
    return trail_select(period, cases, with_departments).subquery()


def period_facts(period: Period, cases, with_departments: bool = False):
    """The same rows as trail_facts, from the rollup where it is exact: a case whose newest trail entry is before
    the period's end has its case_facts row as its facts at that end (joined by primary key); only the cases with
    entries at or after the end (few for a past month, none for the running one) are aggregated from the trail."""
    cf = CaseFacts.__table__
    names = [*FACT_NAMES, *(["n_departments"] if with_departments else [])]
    # The id range adds nothing logically; it lets the planner read the rollup by a primary-key range (a period's
    # cases have neighbouring ids: ids are given in submission order) instead of hashing the whole table.
    span = cf.c.report_id.between(select(func.min(cases.c.id)).scalar_subquery(),
                                  select(func.max(cases.c.id)).scalar_subquery())
    rolled = select(*cases.c, *(cf.c[n] for n in names)).join_from(cases, cf, cf.c.report_id == cases.c.id).where(
        cf.c.last_event_at < period.end, span)
    later = cases.c.id.in_(select(cf.c.report_id).where(cf.c.last_event_at >= period.end))
    return union_all(rolled, trail_select(period, cases, with_departments, only=later)).subquery()
