"""Area, category and channel indicators (问题数 … 按期结案率) and the command centre (按时立案率, 按时派遣率 …)."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import and_, case, func, or_, select

from app.citizens.services import Actor
from app.extensions import db
from app.reports.assessment_facts import period_facts, rate, seconds_between
from app.reports.models import CHANNEL_LABELS, Category, GridCell, Report
from app.reports.periods import Period
from app.reports.queries import scoped


def _area_key(by: str):
    return {"grid": Report.grid_id, "street": Report.grid_id, "category": Report.category_id,
            "channel": Report.channel}[by]


def area_rows(period: Period, by: str, actor: Actor) -> list[dict]:
    """问题数, 立案数, 结案数, 结案率, 按期结案率 of the cases reported in the period, per area, category or channel."""
    r = Report
    key = _area_key(by)
    # The cohort is a CTE with the case columns the indicators need: the facts join it, the cases are read once.
    c = scoped(select(r.id, key.label("k"), r.deadline_at), actor).where(
        r.submitted_at >= period.start, r.submitted_at < period.end).cte("cohort")
    f = period_facts(period, c)
    closed = and_(
        f.c.last_close.is_not(None),
        or_(f.c.last_unclose.is_(None), f.c.last_close > f.c.last_unclose),
        or_(f.c.cancelled_at.is_(None), f.c.cancelled_at < f.c.last_close),
    )

    def n(cond):
        return func.sum(case((cond, 1), else_=0))

    q = (
        select(
            f.c.k,
            func.count().label("reported"),
            n(f.c.first_register.is_not(None)).label("registered"),
            n(closed).label("closed"),
            n(and_(closed, f.c.last_close <= f.c.deadline_at)).label("closed_on_time"),
        )
        .group_by(f.c.k)
    )
    sums: dict = {}
    labels = _labels(by)
    for row in db.session.execute(q):
        k = labels["roll"](row.k)
        acc = sums.setdefault(k, [0, 0, 0, 0])
        for i, v in enumerate((row.reported, row.registered, row.closed, row.closed_on_time)):
            acc[i] += int(v or 0)
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
    return rows


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


def centre(period: Period, actor: Actor) -> dict:
    """The command centre: 按时立案率, 按时派遣率 against the configured minutes, and 派遣准确率."""
    r = Report
    c = scoped(select(r.id, r.submitted_at), actor).where(
        r.submitted_at >= period.start, r.submitted_at < period.end).cte("cohort")
    f = period_facts(period, c, with_departments=True)
    reg_s = 60.0 * current_app.config["ASSESSMENT_REGISTER_MINUTES"]
    dis_s = 60.0 * current_app.config["ASSESSMENT_DISPATCH_MINUTES"]
    registered = f.c.first_register.is_not(None)
    dispatched = and_(registered, f.c.first_dispatch.is_not(None))

    def n(cond):
        return func.sum(case((cond, 1), else_=0))

    row = db.session.execute(
        select(
            n(registered).label("registered"),
            n(and_(registered, seconds_between(f.c.first_register, f.c.submitted_at) <= reg_s)).label("reg_ok"),
            n(dispatched).label("dispatched"),
            n(and_(dispatched, seconds_between(f.c.first_dispatch, f.c.first_register) <= dis_s)).label("dis_ok"),
            n(f.c.n_departments > 1).label("rerouted"),
        )
    ).one()
    reg, reg_ok, dis, dis_ok, rerouted = (int(x or 0) for x in row[:5])
    accuracy = rate(dis - rerouted, dis)
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
        "dispatch_accuracy": accuracy,
    }
