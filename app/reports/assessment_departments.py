"""综合评价 by department: 应处置数 … 满意率 and the composite score, with the command centre's figures and the
period's totals from the same pass over the rollup. Definitions in docs/assessment.md."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import and_, case, func, literal, not_, or_, select, union, union_all

from app.citizens.services import Actor
from app.extensions import db
from app.reports.assessment_areas import (
    CENTRE_SUMS,
    centre_answer,
    centre_conditions,
    closed_condition,
    reported_in,
)
from app.reports.assessment_facts import SATISFIED, one_of, parallel_plans, period_facts, rate
from app.reports.case_facts import CaseFacts
from app.reports.models import OPEN_STATUSES, Department, Report, ReportEvent
from app.reports.periods import Period
from app.reports.queries import in_scope, scoped

DEFAULT_WEIGHTS = {
    "on_time_rate": 50.0,
    "handled_rate": 30.0,
    "rework_free_rate": 20.0,
    "satisfaction_rate": 0.0,
    "supervised_on_time_rate": 0.0,
}
FORMULA = "score = 100 × Σ(wᵢ × xᵢ) / Σ wᵢ，只计有值的指标；rework_free_rate = 1 − rework_rate"


def weights() -> dict[str, float]:
    """The composite score's weights from ASSESSMENT_WEIGHTS ("on_time_rate:50,handled_rate:30,…")."""
    raw = current_app.config.get("ASSESSMENT_WEIGHTS") or ""
    out = dict(DEFAULT_WEIGHTS)
    for part in filter(None, (p.strip() for p in raw.split(","))):
        name, _, value = part.partition(":")
        if name.strip() in out:
            out[name.strip()] = float(value)
    return out


def score(row: dict, w: dict[str, float]) -> float | None:
    """The weighted composite on a 0–100 scale over the indicators that have a value (None when none has)."""
    values = dict(row)
    rework = row.get("rework_rate")
    values["rework_free_rate"] = None if rework is None else 1 - rework
    if row.get("due", 0) == 0:
        return None
    used = [(wi, values.get(name)) for name, wi in w.items() if wi and values.get(name) is not None]
    total = sum(wi for wi, _ in used)
    return round(100 * sum(wi * x for wi, x in used) / total, 2) if total else None


TOTALS = ("reported", "closed", "closed_on_time")  # of the cases reported in the period (with c_registered)


def department_answer(period: Period, actor: Actor) -> tuple[list[dict], dict, dict]:
    """The department rows, the command centre's figures and the totals of the cases reported in the period
    (reported, registered, closed, closed_on_time: the sums of the area rows), read in one pass over the rollup (the
    cases due in the period and those reported in it overlap almost entirely), and the period's return visits."""
    r = Report
    s, e = period.start, period.end
    # Cases that can be due: deadline in the period, or before it and possibly still open at its start (open now,
    # or changed since; a case unchanged since before the period was in its current state all along). The first
    # set is read from the rollup by its deadline index; the other two (few cases) by reports' status and
    # updated_at indexes, de-duplicated, and joined to the rollup by id.
    def earlier(*conds):
        return scoped(select(r.id), actor).where(r.department_id.is_not(None), r.deadline_at < s, *conds)

    # Read first (a few hundred ids): inside the statement, the planner cannot know the set is small and reads
    # the whole rollup to join it.
    earlier_ids = db.session.scalars(union(earlier(r.status.in_(OPEN_STATUSES)), earlier(r.updated_at >= s))).all()
    # The return visits too (a month's ~24,000 rollup rows by their index: 11 ms alone, 20 ms with workers).
    visits = _return_visits(period, actor)
    parallel_plans()

    def in_departments(t):  # the cases that can be due in the period
        due_in = and_(t.department_id.is_not(None), t.deadline_at >= s, t.deadline_at < e,
                      in_scope(t.department_id, actor))
        return or_(due_in, one_of(t.id, earlier_ids)) if earlier_ids else due_in

    in_centre = reported_in(period, actor)  # the command centre's cohort: the cases reported in the period
    # One cohort, the union, with a flag for each part: PostgreSQL reads it as one bitmap OR of the two indexes.
    f = period_facts(period, [lambda t: or_(in_departments(t), in_centre(t))],
                     {"department_id": "department_id", "deadline_at": "deadline_at", "submitted_at": "submitted_at",
                      "in_departments": in_departments, "in_centre": in_centre},
                     with_departments=True)
    stands = and_(f.c.last_handle.is_not(None), or_(f.c.last_undo.is_(None), f.c.last_handle > f.c.last_undo))
    handled_before = and_(stands, f.c.last_handle < s)
    due = and_(f.c.in_departments, f.c.n_dispatch > 0, f.c.cancelled_at.is_(None),
               or_(f.c.deadline_at >= s, not_(handled_before)))
    closed = closed_condition(f)
    # Each case's conditions are computed once (OFFSET 0 keeps PostgreSQL from folding this layer into the counts,
    # which would evaluate `due` in every count) and counted as plain flags.
    g = select(
        f.c.department_id,
        due.label("due"),
        stands.label("stands"),
        and_(stands, f.c.last_handle <= f.c.deadline_at).label("on_time"),
        (f.c.n_rework > 0).label("reworked"),
        (f.c.n_supervise > 0).label("supervised"),
        *(and_(f.c.in_centre, cond).label(name) for name, cond in centre_conditions(f)),
        f.c.in_centre.label("reported"),
        and_(f.c.in_centre, closed).label("closed"),
        and_(f.c.in_centre, closed, f.c.last_close <= f.c.deadline_at).label("closed_on_time"),
    ).offset(0).subquery()

    def n(*flags):
        return func.count().filter(and_(g.c.due, *flags))

    q = (
        select(
            g.c.department_id,
            n().label("due"),
            n(g.c.stands).label("handled"),
            n(g.c.on_time).label("handled_on_time"),
            n(g.c.stands, g.c.reworked).label("rework"),
            n(g.c.supervised).label("supervised"),
            n(g.c.supervised, g.c.on_time).label("supervised_on_time"),
            *(func.count().filter(g.c[name]).label(name) for name in (*CENTRE_SUMS, *TOTALS)),
        )
        .group_by(g.c.department_id)
    )
    figures, sums = {}, dict.fromkeys((*CENTRE_SUMS, *TOTALS), 0)
    for row in db.session.execute(q):
        if row.due:
            figures[row.department_id] = row
        for name in sums:
            sums[name] += int(getattr(row, name) or 0)
    depts = {d.id: d for d in db.session.scalars(select(Department))}
    w = weights()
    rows = []
    for dept_id in sorted(set(figures) | set(visits), key=lambda i: depts[i].code):
        fig = figures.get(dept_id)
        due_n, handled = (fig.due, int(fig.handled)) if fig else (0, 0)
        on_time_n = int(fig.handled_on_time) if fig else 0
        supervised, sup_on_time = (int(fig.supervised), int(fig.supervised_on_time)) if fig else (0, 0)
        rework = int(fig.rework) if fig else 0
        visited, satisfied = visits.get(dept_id, (0, 0))
        row = {
            "key": depts[dept_id].code,
            "name": depts[dept_id].name,
            "due": due_n,
            "handled": handled,
            "handled_on_time": on_time_n,
            "handled_late": handled - on_time_n,
            "overdue_open": due_n - handled,
            "on_time_rate": rate(on_time_n, due_n),
            "handled_rate": rate(handled, due_n),
            "rework": rework,
            "rework_rate": rate(rework, handled),
            "supervised": supervised,
            "supervised_on_time": sup_on_time,
            "supervised_on_time_rate": rate(sup_on_time, supervised),
            "return_visits": visited,
            "satisfied": satisfied,
            "satisfaction_rate": rate(satisfied, visited),
        }
        row["score"] = score(row, w)
        rows.append(row)
    rows.sort(key=lambda x: (x["score"] is None, -(x["score"] or 0), x["key"]))
    totals = {name: sums[name] for name in TOTALS}
    totals["registered"] = sums["c_registered"]
    return rows, centre_answer(*(sums[name] for name in CENTRE_SUMS)), totals


def _return_visits(period: Period, actor: Actor) -> dict[int, tuple[int, int]]:
    """Per department: return visits (feedback entries) in the period and how many were (basically) satisfied.

    From the rollup: a case with one visit counts it when that visit is in the period (ix_case_facts_visits, the
    rollup's own satisfied count); only the few cases with more than one visit since the period began read their
    entries. The case's department is the rollup's copy."""
    cf, ev = CaseFacts, ReportEvent
    s, e = period.start, period.end
    mine = and_(cf.department_id.is_not(None), in_scope(cf.department_id, actor))
    one = select(cf.department_id, literal(1).label("n"), cf.n_satisfied.label("ok")).where(
        cf.n_visits == 1, cf.last_visit >= s, cf.last_visit < e, mine)
    ok = case((ev.data["rating"].as_string().in_(SATISFIED), 1), else_=0)
    more = (
        select(cf.department_id, literal(1).label("n"), ok.label("ok"))
        .join_from(cf, ev, ev.report_id == cf.report_id)
        .where(cf.n_visits > 1, cf.last_visit >= s, mine)
        .where(ev.action == "feedback", ev.created_at >= s, ev.created_at < e)
    )
    u = union_all(one, more).subquery()
    q = select(u.c.department_id, func.sum(u.c.n), func.sum(u.c.ok)).group_by(u.c.department_id)
    return {dept: (int(total), int(ok or 0)) for dept, total, ok in db.session.execute(q)}
