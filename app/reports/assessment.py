"""综合评价: the period's indicators per department, area, category or channel, computed from cases and their trail.

Every figure is "as of the end of the period": only trail entries before `period.end` count, so last month's numbers
do not change when they are computed again later. The definitions, formulas and a worked example are in
docs/assessment.md (tests/test_assessment.py reproduces the example to the digit).
"""

from __future__ import annotations

import contextlib
import hashlib
import json

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import Index, and_, case, func, not_, or_, select, union

from app.citizens.services import Actor
from app.events import utcnow
from app.extensions import db, get_redis
from app.reports.models import CHANNEL_LABELS, OPEN_STATUSES, Category, Department, GridCell, Report, ReportEvent
from app.reports.periods import Period
from app.reports.queries import BadFilter, scoped

GROUPINGS = ("department", "street", "grid", "category", "channel")
UNDO = ("send_back", "unresolved", "reopen")  # entries after which an earlier handling no longer stands
REWORK = ("send_back", "unresolved")  # 返工
CANCELS = ("cancel", "mark_duplicate", "invalidate")
SATISFIED = ("satisfied", "basically_satisfied")
DEFAULT_WEIGHTS = {
    "on_time_rate": 50.0,
    "handled_rate": 30.0,
    "rework_free_rate": 20.0,
    "satisfaction_rate": 0.0,
    "supervised_on_time_rate": 0.0,
}
# Declared next to the queries that need them; migration asm0001 creates them. The trail's covering index lets the
# per-case facts come from the index alone; updated_at finds cases changed since a period began.
FACTS_INDEX = Index("ix_report_events_facts", ReportEvent.report_id, ReportEvent.action, ReportEvent.created_at)
UPDATED_INDEX = Index("ix_reports_updated_at", Report.updated_at)
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


def rate(num: int, den: int) -> float | None:
    """A fraction 0–1 rounded to 4 places, or None when there is nothing to divide by."""
    return round(num / den, 4) if den else None


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


def _seconds(later, earlier):
    """Seconds from `earlier` to `later`, on PostgreSQL and on SQLite."""
    if db.engine.dialect.name == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def _facts(period: Period, report_ids):
    """Per case: the trail's facts up to the period's end (last handling, last undo, counts of rework …)."""
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
            func.count(func.distinct(case((ev.action == "dispatch", ev.data["department"].as_string())))).label(
                "n_departments"
            ),
        )
        .where(at < period.end, ev.report_id.in_(report_ids))
        .group_by(ev.report_id)
        .subquery()
    )


def department_rows(period: Period, actor: Actor) -> list[dict]:
    """The department indicators (应处置数 … 满意率, score) for every department with cases due in the period."""
    r = Report
    s, e = period.start, period.end
    # Cases that can be due: deadline in the period, or before it and possibly still open at its start (open now,
    # or changed since; a case unchanged since before the period was in its current state all along). Three
    # index-served sets (deadline, status, updated_at) rather than one OR that only a full scan can answer.
    def cand(*conds):
        return scoped(select(r.id), actor).where(r.department_id.is_not(None), *conds)

    candidates = union(
        cand(r.deadline_at >= s, r.deadline_at < e),
        cand(r.status.in_(OPEN_STATUSES), r.deadline_at < s),
        cand(r.updated_at >= s, r.deadline_at < s),
    )
    f = _facts(period, candidates)
    stands = and_(f.c.last_handle.is_not(None), or_(f.c.last_undo.is_(None), f.c.last_handle > f.c.last_undo))
    handled_before = and_(stands, f.c.last_handle < s)
    due = and_(f.c.n_dispatch > 0, f.c.cancelled_at.is_(None), or_(r.deadline_at >= s, not_(handled_before)))
    on_time = and_(stands, f.c.last_handle <= r.deadline_at)

    def n(cond):
        return func.sum(case((cond, 1), else_=0))

    q = (
        select(
            r.department_id,
            func.count().label("due"),
            n(stands).label("handled"),
            n(on_time).label("handled_on_time"),
            n(and_(stands, f.c.n_rework > 0)).label("rework"),
            n(f.c.n_supervise > 0).label("supervised"),
            n(and_(f.c.n_supervise > 0, on_time)).label("supervised_on_time"),
        )
        .join(f, f.c.report_id == r.id)
        .where(due)
        .group_by(r.department_id)
    )
    figures = {row.department_id: row for row in db.session.execute(q)}
    visits = _return_visits(period, actor)
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
    return rows


def _return_visits(period: Period, actor: Actor) -> dict[int, tuple[int, int]]:
    """Per department: return visits (feedback entries) in the period and how many were (basically) satisfied."""
    ev = ReportEvent
    rating = ev.data["rating"].as_string()
    q = (
        scoped(select(Report.department_id), actor)
        .add_columns(func.count(), func.sum(case((rating.in_(SATISFIED), 1), else_=0)))
        .join(ev, ev.report_id == Report.id)
        .where(ev.action == "feedback", ev.created_at >= period.start, ev.created_at < period.end)
        .where(Report.department_id.is_not(None))
        .group_by(Report.department_id)
    )
    return {dept: (int(total), int(ok or 0)) for dept, total, ok in db.session.execute(q)}


def _area_key(by: str):
    return {"grid": Report.grid_id, "street": Report.grid_id, "category": Report.category_id,
            "channel": Report.channel}[by]


def area_rows(period: Period, by: str, actor: Actor) -> list[dict]:
    """问题数, 立案数, 结案数, 结案率, 按期结案率 of the cases reported in the period, per area, category or channel."""
    r = Report
    cohort = scoped(select(r.id), actor).where(r.submitted_at >= period.start, r.submitted_at < period.end)
    f = _facts(period, cohort)
    closed = and_(
        f.c.last_close.is_not(None),
        or_(f.c.last_unclose.is_(None), f.c.last_close > f.c.last_unclose),
        or_(f.c.cancelled_at.is_(None), f.c.cancelled_at < f.c.last_close),
    )

    def n(cond):
        return func.sum(case((cond, 1), else_=0))

    key = _area_key(by)
    q = (
        select(
            key.label("k"),
            func.count().label("reported"),
            n(f.c.first_register.is_not(None)).label("registered"),
            n(closed).label("closed"),
            n(and_(closed, f.c.last_close <= r.deadline_at)).label("closed_on_time"),
        )
        .join(f, f.c.report_id == r.id)
        .group_by(key)
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
    cohort = scoped(select(r.id), actor).where(r.submitted_at >= period.start, r.submitted_at < period.end)
    f = _facts(period, cohort)
    reg_s = 60.0 * current_app.config["ASSESSMENT_REGISTER_MINUTES"]
    dis_s = 60.0 * current_app.config["ASSESSMENT_DISPATCH_MINUTES"]
    registered = f.c.first_register.is_not(None)
    dispatched = and_(registered, f.c.first_dispatch.is_not(None))

    def n(cond):
        return func.sum(case((cond, 1), else_=0))

    row = db.session.execute(
        select(
            n(registered).label("registered"),
            n(and_(registered, _seconds(f.c.first_register, r.submitted_at) <= reg_s)).label("reg_ok"),
            n(dispatched).label("dispatched"),
            n(and_(dispatched, _seconds(f.c.first_dispatch, f.c.first_register) <= dis_s)).label("dis_ok"),
            n(f.c.n_departments > 1).label("rerouted"),
        ).join_from(r, f, f.c.report_id == r.id)
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


def _cache_key(period: Period, by: str, actor: Actor) -> str:
    scope = actor.department_id if (actor.role == "handler" or actor.kind == "api") else None
    cfg = current_app.config
    basis = json.dumps([period.first.isoformat(), period.last.isoformat(), by, scope, weights(),
                        cfg["ASSESSMENT_REGISTER_MINUTES"], cfg["ASSESSMENT_DISPATCH_MINUTES"]])
    return "assessment:v1:" + hashlib.sha256(basis.encode()).hexdigest()


def assess(period: Period, by: str, actor: Actor) -> dict:
    """The whole assessment answer: period, grouping, weights and formula, rows, and the command centre's figures.

    A finished period's answer cannot change (only trail entries before its end count, and entries are appended
    with the current time), so it is kept in Redis for ASSESSMENT_CACHE_TTL_S; the current period is always live.
    """
    if by not in GROUPINGS:
        raise BadFilter(f"by: 应为 {'、'.join(GROUPINGS)} 之一")
    ttl = current_app.config["ASSESSMENT_CACHE_TTL_S"]
    finished = ttl > 0 and period.end <= utcnow()
    key = _cache_key(period, by, actor) if finished else ""
    if finished:
        try:
            cached = get_redis().get(key)
        except RedisError:
            cached = None
        if cached:
            return json.loads(cached)
    answer = _compute(period, by, actor)
    if finished:
        with contextlib.suppress(RedisError):
            get_redis().set(key, json.dumps(answer, ensure_ascii=False), ex=ttl)
    return answer


def _compute(period: Period, by: str, actor: Actor) -> dict:
    rows = department_rows(period, actor) if by == "department" else area_rows(period, by, actor)
    return {
        "period": period.as_json(),
        "by": by,
        "weights": weights(),
        "formula": FORMULA,
        "rows": rows,
        "centre": centre(period, actor),
    }


def summary(period: Period, actor: Actor) -> dict:
    """The dashboard's headline: the period's totals (as by=channel, summed), the centre, the department ranking."""
    areas = area_rows(period, "channel", actor)
    totals = {k: sum(r[k] for r in areas) for k in ("reported", "registered", "closed", "closed_on_time")}
    totals["closed_rate"] = rate(totals["closed"], totals["registered"])
    totals["closed_on_time_rate"] = rate(totals["closed_on_time"], totals["registered"])
    return {"totals": totals, "centre": centre(period, actor), "departments": department_rows(period, actor)}
