"""The trail's facts per case up to a period's end: what the assessment's indicators are computed from."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import ARRAY, Index, Integer, Interval, and_, any_, case, exists, func, literal, select, union_all

from app.extensions import db
from app.reports.case_facts import CANCELS, FACT_NAMES, REWORK, SATISFIED, UNDO, CaseFacts, fact_columns
from app.reports.models import Report, ReportEvent
from app.reports.month_facts import CaseFactsAt, is_month_start
from app.reports.periods import Period

__all__ = [
    "CANCELS",
    "GROUPINGS",
    "REWORK",
    "SATISFIED",
    "UNDO",
    "CaseColumns",
    "one_of",
    "parallel_plans",
    "period_facts",
    "rate",
    "report_statements",
    "seconds_between",
    "trail_facts",
    "within",
]

GROUPINGS = ("department", "street", "grid", "category", "channel")
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


def within(later, earlier, seconds: float):
    """`later` is at most `seconds` after `earlier`. PostgreSQL compares timestamps (extract() returns numeric,
    several times slower over a month of cases); SQLite compares Julian days."""
    if db.engine.dialect.name == "postgresql":
        return later <= earlier + literal(timedelta(seconds=seconds), Interval())
    return seconds_between(later, earlier) <= seconds


# Planner costs that let PostgreSQL split a month's scan and per-case aggregation across parallel workers (the
# defaults, 1000 and 0.1, keep statements of this size on one core; measured in docs/benchmarks.md).
PARALLEL_SETTINGS = {"parallel_setup_cost": "10", "parallel_tuple_cost": "0.001"}


def _set_local(settings: dict) -> None:
    """set_config(…, is_local) for each setting, in one round trip: like SET LOCAL, it ends with the transaction."""
    db.session.execute(select(*(func.set_config(name, value, True) for name, value in settings.items())))


def report_statements() -> None:
    """Give this transaction's reporting statements room to sort and group a month of cases in memory
    (REPORT_WORK_MEM), and plans made for their parameters (PostgreSQL only).

    psycopg prepares a statement on a connection from its fifth run, and PostgreSQL may then switch to a generic plan
    that ignores the parameters (the period's bounds, the earlier-due ids, OFFSET 0) and the parallel settings: the
    by-department answer went from ~160 to ~400 ms once a connection had served it about ten times (measured through
    the pages in bench/assessment_1m.py). `plan_cache_mode = force_custom_plan` plans each run for its values (a few
    milliseconds of planning for statements of 50–150 ms)."""
    if db.engine.dialect.name == "postgresql":
        _set_local({"work_mem": current_app.config["REPORT_WORK_MEM"], "plan_cache_mode": "force_custom_plan"})


def parallel_plans() -> None:
    """With REPORT_PARALLEL, let the statements that read a whole period from here on in this transaction use
    parallel workers (PostgreSQL only). Called after the small lookups: for them, starting workers costs more than
    it saves (a 5 ms index read became 13 ms)."""
    if db.engine.dialect.name == "postgresql" and current_app.config.get("REPORT_PARALLEL"):
        _set_local(PARALLEL_SETTINGS)


def one_of(column, ids: list[int]):
    """`column IN ids` for a few hundred ids: on PostgreSQL one array parameter (`= ANY(…)`), not one parameter per id
    in every part of the statement that uses it (thousands of placeholders to render and to send)."""
    if db.engine.dialect.name == "postgresql":
        return column == any_(literal(list(ids), ARRAY(Integer)))
    return column.in_(ids)


def _column(t, spec):
    """A `columns` value: the name of a case column, or a function of the case table (a flag, say)."""
    return spec(t) if callable(spec) else getattr(t, spec)


class CaseColumns:
    """A case table's columns by the names of reports' columns (`id`, `department_id` …): `reports` itself, or the
    copies in case_facts (its `report_id` is the case's id). A cohort is a function of one of these."""

    def __init__(self, table, id_column):
        self.table = table
        self.id = id_column

    def __getattr__(self, name):
        return self.table.c[name]


def _reports() -> CaseColumns:
    return CaseColumns(Report.__table__, Report.__table__.c.id)


def _rollup() -> CaseColumns:
    cf = CaseFacts.__table__
    return CaseColumns(cf, cf.c.report_id)


def _grouped_trail(period: Period, t: CaseColumns, cond, columns: dict, departments: str | None):
    """Per case of table `t` meeting `cond`: its `columns` and its trail's facts up to the period's end.
    `departments`: None (no n_departments), "count" (distinct departments of the dispatch entries, from their data)
    or "at_most_one" (the case never had two departments: 1 once dispatched, from the covering index alone)."""
    ev = ReportEvent.__table__
    cols = [t.id.label("id"), *(_column(t, spec).label(label) for label, spec in columns.items())]
    facts = fact_columns(ev, departments == "count")
    if departments == "at_most_one":
        facts.append(case((func.count(case((ev.c.action == "dispatch", 1))) > 0, 1), else_=0).label("n_departments"))
    return (
        select(*cols, *facts)
        .join_from(t.table, ev, ev.c.report_id == t.id)
        .where(cond, ev.c.created_at < period.end)
        .group_by(t.id)  # the table's primary key: its other columns (and expressions of them) follow from it
    )


def trail_facts(period: Period, cohorts, columns: dict, with_departments: bool = False):
    """The reference: per case of each cohort (disjoint conditions on the case table), the case's `columns`
    ({label: name of a reports column, or a function of the case table such as a flag}) and its facts aggregated
    from the trail alone, read from reports and report_events.

    Without `with_departments` the trail part reads only (report_id, action, created_at): PostgreSQL answers it from
    the covering index ix_report_events_facts alone (an index-only scan); counting re-routes needs the entries' data.
    """
    t = _reports()
    departments = "count" if with_departments else None
    return union_all(*(_grouped_trail(period, t, cohort(t), columns, departments) for cohort in cohorts)).subquery()


def period_facts(period: Period, cohorts, columns: dict, with_departments: bool = False):
    """The same rows as trail_facts, read from the rollup: case_facts carries the case's columns and, for a case whose
    newest trail entry is before the period's end, its facts at that end. A case with entries at or after the end has
    them in a month-start snapshot (when the period ends at a month's start and the snapshot exists); only the others
    are aggregated from the trail. Each cohort is selected by case_facts' own indexes (deadline, submission time).

    The cases that need the trail are found first, by one small statement (none for a finished month whose snapshots
    are all there, none for the running one): inside the union, the planner cannot know that the anti-join with the
    snapshots leaves (almost) nothing, and it joined a month's touched cases to their entries first (27 of 120 ms by
    grid at 1,000,000 cases). Re-routes as of the end need the departments in the dispatch entries' data; only a case
    dispatched to two departments by now can have had two by the end, so only those few read the entries themselves.
    """
    t = _rollup()
    names = [*FACT_NAMES, *(["n_departments"] if with_departments else [])]
    # A period ending at a month's start: the cases touched since have their facts at that end in a snapshot.
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
        needing = db.session.execute(select(t.id, t.n_departments).where(later)).all()
        if not with_departments:
            groups = [([i for i, _ in needing], None)]
        else:
            groups = [([i for i, n in needing if n <= 1], "at_most_one"), ([i for i, n in needing if n > 1], "count")]
        parts.extend(_grouped_trail(period, t, one_of(t.id, ids), columns, departments)
                     for ids, departments in groups if ids)
    return union_all(*parts).subquery()
