"""The dashboard's charts: cases per day and status, per category and department, overdue, time to close, heat.

Every figure is grouped in SQL (one small GROUP BY each over the period's cases, served by the submitted_at
index), so a month of 80,000 cases is never read into Python: the answer is a few hundred rows whatever the volume.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import Float, Integer, and_, case, cast, func, literal_column, select

from app.citizens.services import Actor
from app.events import utcnow
from app.extensions import db
from app.reports.assessment_facts import seconds_between
from app.reports.feedback import satisfaction
from app.reports.models import OPEN_STATUSES, STATUSES, Category, Department, GridCell, Report, ReportEvent
from app.reports.queries import local_day_start, scoped


@dataclass
class Dashboard:
    """The figures behind the dashboard's charts."""

    days: list[date]
    per_day: dict[str, list[int]]  # status -> count per day (cases submitted that day, by their current status)
    by_category: list[tuple[str, int]]
    by_department: list[tuple[str, int]]
    overdue_by_department: list[tuple[str, int]]
    median_hours_to_close: float | None
    closed_count: int
    heat: list[list[int]]  # rows north → south, columns west → east
    heat_box: tuple[float, float, float, float]
    total: int
    outlines: list[tuple[str, list[list[tuple[float, float]]]]] = field(default_factory=list)
    # Return visits answered in the period (满意率 = (satisfied + basically_satisfied) / answered) and the cases sent
    # back by citizens as 「群众反映未解决」 (返工).
    satisfaction: dict = field(default_factory=dict)
    reworked: int = 0


def _local_day(tz: ZoneInfo, first: date):
    """The case's local submission date as an SQL expression (PostgreSQL converts with the zone's rules; SQLite,
    the development database, with the zone's offset at the period's start)."""
    if db.engine.dialect.name == "postgresql":
        return func.date(func.timezone(tz.key, Report.submitted_at))
    offset = local_day_start(first).astimezone(tz).utcoffset() or timedelta(0)
    return func.date(Report.submitted_at, f"{int(offset.total_seconds()) // 60:+d} minutes")


def _floor(expr):
    """floor() of a non-negative float: PostgreSQL's CAST rounds, SQLite's truncates (and may lack floor())."""
    return func.floor(expr) if db.engine.dialect.name == "postgresql" else cast(expr, Integer)


def _top(d: dict[str, int], n: int = 12) -> list[tuple[str, int]]:
    return sorted(d.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


def dashboard(
    actor: Actor, days: int = 30, heat_size: int = 24, first: date | None = None, last: date | None = None
) -> Dashboard:
    """Aggregate the cases the actor may see submitted in the last `days` days, or from `first` to `last` (local)."""
    tz = ZoneInfo(current_app.config.get("TIMEZONE", "Asia/Shanghai"))
    if first is None or last is None:
        last = utcnow().astimezone(tz).date()
        first = last - timedelta(days=days - 1)
    days = (last - first).days + 1
    since, until = local_day_start(first), local_day_start(last + timedelta(days=1))
    r = Report

    def grouped(*keys, extra=(), where=()):
        q = scoped(select(*keys, func.count(), *extra), actor)
        q = q.where(r.submitted_at >= since, r.submitted_at < until, *where)
        return db.session.execute(q.group_by(*keys)).all()

    day_list = [first + timedelta(days=i) for i in range(days)]
    per_day = {s: [0] * days for s in STATUSES}
    day = _local_day(tz, first)
    is_closed = and_(r.status == "closed", r.closed_at.is_not(None))
    closed_count = 0
    for d, status, n, n_closed in grouped(day.label("day"), r.status,
                                          extra=[func.sum(case((is_closed, 1), else_=0))]):
        closed_count += int(n_closed or 0)
        idx = ((d if isinstance(d, date) else date.fromisoformat(d)) - first).days
        if 0 <= idx < days:
            per_day[status][idx] += n
    cats = {c.id: c for c in db.session.scalars(select(Category))}
    depts = {d.id: d.name for d in db.session.scalars(select(Department))}
    by_cat: dict[str, int] = {}
    for cat_id, n in grouped(r.category_id):
        cat = cats.get(cat_id)
        cls = (cats.get(cat.parent_id) if cat and cat.parent_id else cat) if cat else None
        by_cat[cls.name if cls else "未分类"] = by_cat.get(cls.name if cls else "未分类", 0) + n
    by_dept: dict[str, int] = {}
    overdue: dict[str, int] = {}
    late = func.sum(case((and_(r.overdue.is_(True), r.status.in_(OPEN_STATUSES)), 1), else_=0))
    for dept_id, n, n_late in grouped(r.department_id, extra=[late]):
        dname = depts.get(dept_id, "未指定")
        by_dept[dname] = by_dept.get(dname, 0) + n
        if n_late:
            overdue[dname] = overdue.get(dname, 0) + int(n_late)
    median = _median_hours_to_close(actor, since, until, closed_count)
    minlat, minlng, maxlat, maxlng = _service_box()
    # Square cells on the ground: as many rows as the box is tall relative to its width (a degree of longitude
    # shrinks with cos(latitude)).
    ground_ratio = (maxlat - minlat) / ((maxlng - minlng) * math.cos(math.radians((minlat + maxlat) / 2)))
    heat_rows = max(4, min(3 * heat_size, round(heat_size * ground_ratio)))
    heat = [[0] * heat_size for _ in range(heat_rows)]
    # The box's numbers are written into the statement (they are the deployment's constants): as bound parameters,
    # PostgreSQL's generic plan for the prepared statement (from its sixth run on) took 40 times as long.
    # repr() keeps every digit, so the database computes with exactly the doubles Python would.
    def k(value):
        return literal_column(repr(float(value)), Float)

    row_of = _floor((k(maxlat) - r.lat) / k(maxlat - minlat) * k(heat_rows))
    col_of = _floor((r.lng - k(minlng)) / k(maxlng - minlng) * k(heat_size))
    in_box = [r.lat.is_not(None), r.lng.is_not(None), r.lat.between(k(minlat), k(maxlat)),
              r.lng.between(k(minlng), k(maxlng))]
    for row, col, n in grouped(row_of.label("hr"), col_of.label("hc"), where=in_box):
        heat[min(heat_rows - 1, int(row))][min(heat_size - 1, int(col))] += n
    return Dashboard(
        days=day_list,
        per_day={s: v for s, v in per_day.items() if any(v)},
        by_category=_top(by_cat),
        by_department=_top(by_dept),
        overdue_by_department=_top(overdue),
        median_hours_to_close=median,
        closed_count=closed_count,
        heat=heat,
        heat_box=(minlat, minlng, maxlat, maxlng),
        total=sum(by_cat.values()),
        outlines=_grid_outlines((minlat, minlng, maxlat, maxlng)),
        satisfaction=satisfaction(since, scoped(select(Report.id), actor)),
        reworked=db.session.scalar(
            select(func.count()).select_from(ReportEvent).where(
                ReportEvent.action == "unresolved", ReportEvent.created_at >= since,
                ReportEvent.report_id.in_(scoped(select(Report.id), actor)))
        ),
    )


def _median_hours_to_close(actor: Actor, since, until, n: int) -> float | None:
    """The median hours from submission to closing of the period's `n` closed cases (1 decimal): the middle one or
    two, read with ORDER BY … OFFSET instead of reading them all."""
    if not n:
        return None
    r = Report
    closed = scoped(select(r.closed_at, r.submitted_at), actor).where(
        r.submitted_at >= since, r.submitted_at < until, r.status == "closed", r.closed_at.is_not(None))
    # PostgreSQL orders the intervals themselves (no per-row conversion to seconds).
    order = (r.closed_at - r.submitted_at) if db.engine.dialect.name == "postgresql" else \
        seconds_between(r.closed_at, r.submitted_at)
    middle = db.session.execute(closed.order_by(order).offset((n - 1) // 2).limit(2 - n % 2)).all()
    hours = [(closed_at - submitted_at).total_seconds() / 3600 for closed_at, submitted_at in middle]
    return round(statistics.median(hours), 1)


def _grid_outlines(box: tuple[float, float, float, float], level: int = 2) -> list:
    """Street/town grid cells as rings of (x, y) fractions of the box (0..1, y down), to draw under the heat."""
    minlat, minlng, maxlat, maxlng = box
    out = []
    for cell in db.session.scalars(select(GridCell).where(GridCell.level == level).order_by(GridCell.code)):
        geom = cell.geometry or {}
        polygons = [geom.get("coordinates", [])] if geom.get("type") == "Polygon" else geom.get("coordinates", [])
        rings = []
        for polygon in polygons:
            for ring in polygon[:1]:  # outer ring only
                step = max(1, len(ring) // 200)
                rings.append([
                    (round((lng - minlng) / (maxlng - minlng), 4), round((maxlat - lat) / (maxlat - minlat), 4))
                    for lng, lat, *_ in ring[::step]
                ])
        out.append((cell.name, rings))
    return out


def _service_box() -> tuple[float, float, float, float]:
    """The service area's bounding box (minlat, minlng, maxlat, maxlng) for the heat picture."""
    return current_app.extensions["service_area"].bbox
