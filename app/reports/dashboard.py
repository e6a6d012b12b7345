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
from sqlalchemy import Float, Integer, and_, case, cast, func, literal_column, select, tuple_

from app.citizens.services import Actor
from app.events import utcnow
from app.extensions import db
from app.reports.assessment_facts import parallel_plans, report_statements, seconds_between
from app.reports.feedback import satisfaction
from app.reports.models import OPEN_STATUSES, STATUSES, Category, Department, GridCell, Report, ReportEvent
from app.reports.queries import local_day_start, scoped

# One GROUPING SETS pass on PostgreSQL; False: one GROUP BY per chart (bench/assessment_1m.py's same-run baseline).
ONE_PASS = True


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
    report_statements()
    parallel_plans()
    r = Report
    day_list = [first + timedelta(days=i) for i in range(days)]
    per_day = {s: [0] * days for s in STATUSES}
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

    in_box = and_(r.lat.is_not(None), r.lng.is_not(None), r.lat.between(k(minlat), k(maxlat)),
                  r.lng.between(k(minlng), k(maxlng)))
    row_of = case((in_box, _floor((k(maxlat) - r.lat) / k(maxlat - minlat) * k(heat_rows))))
    col_of = case((in_box, _floor((r.lng - k(minlng)) / k(maxlng - minlng) * k(heat_size))))
    is_closed = and_(r.status == "closed", r.closed_at.is_not(None))
    late = and_(r.overdue.is_(True), r.status.in_(OPEN_STATUSES))
    charts = {
        "day": [_local_day(tz, first).label("day"), r.status.label("status")],
        "category": [r.category_id.label("category_id")],
        "department": [r.department_id.label("department_id")],
        "heat": [row_of.label("hr"), col_of.label("hc")],
    }
    one_pass = _one_pass()
    if one_pass:  # the closed cases per whole hour to close: where the median lies (_median_hours_to_close)
        charts["close_hour"] = [case((is_closed, func.date_trunc("hour", r.closed_at - r.submitted_at)))
                                .label("close_hour")]
    sets = _grouped(actor, since, until, charts,
                    [func.sum(case((is_closed, 1), else_=0)), func.sum(case((late, 1), else_=0))])
    closed_count = 0
    for (d, status), n, n_closed, _ in sets["day"]:
        closed_count += int(n_closed or 0)
        idx = ((d if isinstance(d, date) else date.fromisoformat(d)) - first).days
        if 0 <= idx < days:
            per_day[status][idx] += n
    cats = {c.id: c for c in db.session.scalars(select(Category))}
    depts = {d.id: d.name for d in db.session.scalars(select(Department))}
    by_cat: dict[str, int] = {}
    for (cat_id,), n, _, _ in sets["category"]:
        cat = cats.get(cat_id)
        cls = (cats.get(cat.parent_id) if cat and cat.parent_id else cat) if cat else None
        by_cat[cls.name if cls else "未分类"] = by_cat.get(cls.name if cls else "未分类", 0) + n
    by_dept: dict[str, int] = {}
    overdue: dict[str, int] = {}
    for (dept_id,), n, _, n_late in sets["department"]:
        dname = depts.get(dept_id, "未指定")
        by_dept[dname] = by_dept.get(dname, 0) + n
        if n_late:
            overdue[dname] = overdue.get(dname, 0) + int(n_late)
    for (row, col), n, _, _ in sets["heat"]:
        if row is not None and col is not None:
            heat[min(heat_rows - 1, int(row))][min(heat_size - 1, int(col))] += n
    hours = {key: n for (key,), n, _, _ in sets.get("close_hour", []) if key is not None}
    median = _median_hours_to_close(actor, since, until, closed_count, hours if one_pass else None)
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


def _one_pass() -> bool:
    """Whether the charts are grouped in one GROUPING SETS pass (PostgreSQL, unless the bench's baseline says not)."""
    return db.engine.dialect.name == "postgresql" and ONE_PASS


def _grouped(actor: Actor, since, until, sets: dict[str, list], sums: list) -> dict[str, list]:
    """Per named set of labelled key columns: (keys, count, *sums) of the period's cases the actor may see, grouped by
    those keys. PostgreSQL groups every set in one pass over the period's cases (GROUPING SETS, told apart by
    GROUPING()); SQLite, the development database, runs one GROUP BY per set."""
    r = Report

    def base(*cols):
        return scoped(select(*cols, func.count(), *sums), actor).where(r.submitted_at >= since, r.submitted_at < until)

    if not _one_pass():
        return _grouped_each(base, sets)
    keys = [key for group in sets.values() for key in group]
    spans, start = {}, 0
    for name, group in sets.items():
        spans[name] = range(start, start + len(group))
        start += len(group)
    # GROUPING(k1 … kn) has a 1 bit for each key not in the row's set (the first key is the highest bit).
    names = {sum(1 << (len(keys) - 1 - i) for i in range(len(keys)) if i not in span): name
             for name, span in spans.items()}
    q = base(*keys, func.grouping(*keys)).group_by(func.grouping_sets(*(tuple_(*group) for group in sets.values())))
    out = {name: [] for name in sets}
    n = len(keys)
    for row in db.session.execute(q):
        name = names[row[n]]  # keys, GROUPING(), count, sums
        out[name].append((tuple(row[i] for i in spans[name]), *row[n + 1 :]))
    return out


def _grouped_each(base, sets: dict[str, list]) -> dict[str, list]:
    """_grouped with one GROUP BY per set (SQLite; the baseline bench/assessment_1m.py compares the one pass with)."""
    out = {}
    for name, keys in sets.items():
        rows = db.session.execute(base(*keys).group_by(*keys)).all()
        out[name] = [(tuple(row[: len(keys)]), *row[len(keys) :]) for row in rows]
    return out


def _median_hours_to_close(actor: Actor, since, until, n: int, hours: dict | None = None) -> float | None:
    """The median hours from submission to closing of the period's `n` closed cases (1 decimal): the middle one or
    two, read with ORDER BY … OFFSET instead of reading them all.

    `hours` (PostgreSQL): the closed cases per whole hour to close (interval → count, from the charts' pass). The
    middle ones are then looked for only among the cases of their hour, so a few hundred intervals are sorted
    instead of the month's ~70,000 (59 → 19 ms at 1,000,000 cases; docs/benchmarks.md). Intervals compare exactly,
    so [hour, hour + 1 h) holds the cases date_trunc() counted in it (non-negative intervals; otherwise, or if the
    counts disagree, the whole month is sorted)."""
    if not n:
        return None
    r = Report
    closed = scoped(select(r.closed_at, r.submitted_at), actor).where(
        r.submitted_at >= since, r.submitted_at < until, r.status == "closed", r.closed_at.is_not(None))
    # PostgreSQL orders the intervals themselves (no per-row conversion to seconds).
    order = (r.closed_at - r.submitted_at) if db.engine.dialect.name == "postgresql" else \
        seconds_between(r.closed_at, r.submitted_at)
    ranks = sorted({(n - 1) // 2, n // 2})
    if hours and sum(hours.values()) == n and min(hours) >= timedelta(0):
        middle, seen, wanted = [], 0, list(ranks)
        for hour in sorted(hours):
            mine = [k - seen for k in wanted if seen <= k < seen + hours[hour]]
            if mine:
                in_hour = closed.where(order >= hour, order < hour + timedelta(hours=1))
                middle += db.session.execute(in_hour.order_by(order).offset(mine[0]).limit(len(mine))).all()
                wanted = wanted[len(mine):]
            if not wanted:
                break
            seen += hours[hour]
    else:
        middle = db.session.execute(closed.order_by(order).offset(ranks[0]).limit(len(ranks))).all()
    values = [(closed_at - submitted_at).total_seconds() / 3600 for closed_at, submitted_at in middle]
    return round(statistics.median(values), 1)


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
