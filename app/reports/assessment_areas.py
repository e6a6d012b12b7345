"""Area, category and channel indicators (问题数 … 按期结案率) and the command centre (按时立案率, 按时派遣率 …)."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import and_, func, or_, select

from app.citizens.services import Actor
from app.extensions import db
from app.reports.assessment_facts import parallel_plans, period_facts, rate, within
from app.reports.models import CHANNEL_LABELS, Category, GridCell
from app.reports.periods import Period
from app.reports.queries import in_scope

_AREA_KEY = {"grid": "grid_id", "street": "grid_id", "category": "category_id", "channel": "channel"}


def reported_in(period: Period, actor: Actor):
    """The cohort of cases reported in the period that the actor may see, as a condition on a case table."""
    return lambda t: and_(t.submitted_at >= period.start, t.submitted_at < period.end,
                          in_scope(t.department_id, actor))


def _n(cond):
    """How many rows meet `cond` (COUNT … FILTER: cheaper per row than SUM(CASE …))."""
    return func.count().filter(cond)


CENTRE_SUMS = ("c_registered", "c_reg_ok", "c_dispatched", "c_dis_ok", "c_rerouted")


def centre_conditions(f) -> list[tuple[str, object]]:
    """The command centre's conditions by name (CENTRE_SUMS) on the rows of period_facts `f` (with submitted_at
    and n_departments)."""
    reg_s = 60.0 * current_app.config["ASSESSMENT_REGISTER_MINUTES"]
    dis_s = 60.0 * current_app.config["ASSESSMENT_DISPATCH_MINUTES"]
    registered = f.c.first_register.is_not(None)
    dispatched = and_(registered, f.c.first_dispatch.is_not(None))
    conds = [
        registered,
        and_(registered, within(f.c.first_register, f.c.submitted_at, reg_s)),
        dispatched,
        and_(dispatched, within(f.c.first_dispatch, f.c.first_register, dis_s)),
        f.c.n_departments > 1,
    ]
    return list(zip(CENTRE_SUMS, conds, strict=True))


def centre_sums(f) -> list:
    """The command centre's counts over the rows of period_facts `f`."""
    return [_n(cond).label(name) for name, cond in centre_conditions(f)]


def closed_condition(f):
    """结案 as of the period's end, on the rows of period_facts `f`: closed, not reopened or sent back since, and not
    cancelled before it was closed."""
    return and_(
        f.c.last_close.is_not(None),
        or_(f.c.last_unclose.is_(None), f.c.last_close > f.c.last_unclose),
        or_(f.c.cancelled_at.is_(None), f.c.cancelled_at < f.c.last_close),
    )


def area_answer(period: Period, by: str, actor: Actor) -> tuple[list[dict], dict]:
    """问题数, 立案数, 结案数, 结案率, 按期结案率 of the cases reported in the period, per area, category or channel,
    and the command centre's figures (the same cohort: its counts are the groups' sums), in one pass."""
    parallel_plans()
    f = period_facts(period, [reported_in(period, actor)],
                     {"k": _AREA_KEY[by], "deadline_at": "deadline_at", "submitted_at": "submitted_at"},
                     with_departments=True)
    closed = closed_condition(f)
    q = (
        select(
            f.c.k,
            func.count().label("reported"),
            _n(f.c.first_register.is_not(None)).label("registered"),
            _n(closed).label("closed"),
            _n(and_(closed, f.c.last_close <= f.c.deadline_at)).label("closed_on_time"),
            *centre_sums(f),
        )
        .group_by(f.c.k)
    )
    sums: dict = {}
    centre_counts = [0] * 5
    labels = _labels(by)
    for row in db.session.execute(q):
        k = labels["roll"](row.k)
        acc = sums.setdefault(k, [0, 0, 0, 0])
        for i, v in enumerate((row.reported, row.registered, row.closed, row.closed_on_time)):
            acc[i] += int(v or 0)
        for i, v in enumerate(row[-5:]):
            centre_counts[i] += int(v or 0)
    rows = []
    for k, (reported, registered, closed_n, on_time) in sums.items():
        code, name = labels["name"](k)
        rows.append({
            "key": code,
            "name": name,
            "reported": reported,
            "registered": registered,
            "closed": closed_n,
            "closed_on_time": on_time,
            "closed_rate": rate(closed_n, registered),
            "closed_on_time_rate": rate(on_time, registered),
        })
    rows.sort(key=lambda x: (-x["reported"], x["key"] or ""))
    return rows, centre_answer(*centre_counts)


def area_rows(period: Period, by: str, actor: Actor) -> list[dict]:
    """The rows of area_answer."""
    return area_answer(period, by, actor)[0]


def _labels(by: str) -> dict:
    """How to roll a group key up (a grid cell to its street) and how to name it."""
    if by in ("grid", "street"):
        cells = {c.id: c for c in db.session.scalars(select(GridCell))}

        def street_of(grid_id):
            cell = cells.get(grid_id)
            while cell is not None and cell.level > 2 and cell.parent_id in cells:
                cell = cells[cell.parent_id]
            return cell.id if cell is not None else None

        def name(grid_id):
            cell = cells.get(grid_id)
            return (cell.code, cell.name) if cell else (None, "未定位网格")

        return {"roll": street_of if by == "street" else (lambda k: k), "name": name}
    if by == "category":
        cats = {c.id: c for c in db.session.scalars(select(Category))}
        return {"roll": lambda k: k,
                "name": lambda k: (cats[k].code, cats[k].name) if k in cats else (None, "未分类")}
    return {"roll": lambda k: k, "name": lambda k: (k, CHANNEL_LABELS.get(k, k))}


def centre_answer(reg: int, reg_ok: int, dis: int, dis_ok: int, rerouted: int) -> dict:
    return {
        "register_minutes": current_app.config["ASSESSMENT_REGISTER_MINUTES"],
        "dispatch_minutes": current_app.config["ASSESSMENT_DISPATCH_MINUTES"],
        "registered": reg,
        "registered_on_time": reg_ok,
        "registered_on_time_rate": rate(reg_ok, reg),
        "dispatched": dis,
        "dispatched_on_time": dis_ok,
        "dispatched_on_time_rate": rate(dis_ok, dis),
        "rerouted": rerouted,
        "dispatch_accuracy": rate(dis - rerouted, dis),
    }
