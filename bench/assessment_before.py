"""The assessment's and the dashboard's code before session 8, kept for bench/assessment_1m.py's same-run baselines.

- `period_facts` as it was: the trail's counts left as PostgreSQL's bigint (the union of integer rollup rows and
  bigint aggregations was cast step by step, not one flat Append), and the cases needing the trail found inside the
  union (the planner joined a month's touched cases to their entries before the anti-join with the snapshots).
- The dashboard's median time to close by sorting every closed case of the period.
"""

from __future__ import annotations

from sqlalchemy import and_, exists, func, select, union_all

from app.reports import assessment_areas, assessment_departments, dashboard, facts_columns
from app.reports.assessment_facts import FACT_NAMES, CaseFactsAt, _column, _grouped_trail, _rollup, is_month_start


def period_facts(period, cohorts, columns: dict, with_departments: bool = False):
    """assessment_facts.period_facts of session 7 (commit 0200f6a)."""
    t = _rollup()
    names = [*FACT_NAMES, *(["n_departments"] if with_departments else [])]
    snap = CaseFactsAt.__table__ if is_month_start(period.end) else None
    parts = []
    for cohort in cohorts:
        cond = cohort(t)
        cols = [t.id.label("id"), *(_column(t, spec).label(label) for label, spec in columns.items())]
        parts.append(select(*cols, *(t.table.c[n] for n in names)).where(cond, t.last_event_at < period.end))
        later = and_(cond, t.last_event_at >= period.end)
        if snap is not None:
            at_end = and_(snap.c.report_id == t.id, snap.c.month_end == period.end)
            parts.append(select(*cols, *(snap.c[n] for n in names)).join_from(t.table, snap, at_end).where(later))
            later = and_(later, ~exists().where(at_end))
        if not with_departments:
            parts.append(_grouped_trail(period, t, later, columns, None))
            continue
        parts.append(_grouped_trail(period, t, and_(later, t.n_departments <= 1), columns, "at_most_one"))
        parts.append(_grouped_trail(period, t, and_(later, t.n_departments > 1), columns, "count"))
    return union_all(*parts).subquery()


median_now = dashboard._median_hours_to_close


def _median_by_sorting_the_period(actor, since, until, n, hours=None):
    return median_now(actor, since, until, n, None)


def as_before(fn):
    """fn() with the code before session 8 (see the module's docstring)."""
    saved = (facts_columns._count, assessment_departments.period_facts, assessment_areas.period_facts,
             dashboard._median_hours_to_close)
    facts_columns._count = func.count
    assessment_departments.period_facts = assessment_areas.period_facts = period_facts
    dashboard._median_hours_to_close = _median_by_sorting_the_period
    try:
        return fn()
    finally:
        (facts_columns._count, assessment_departments.period_facts, assessment_areas.period_facts,
         dashboard._median_hours_to_close) = saved


__all__ = ["as_before", "period_facts"]
