"""Read side of cases: the filtered, scoped, paginated list and the dashboard figures (no writes here)."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import Index, Select, func, select
from sqlalchemy.orm import selectinload

from app.citizens.services import Actor
from app.events import utcnow
from app.extensions import db
from app.reports import search
from app.reports.feedback import satisfaction
from app.reports.models import (
    CHANNELS,
    OPEN_STATUSES,
    STATUSES,
    Category,
    Department,
    GridCell,
    Report,
    ReportEvent,
)

# The "deadline" sort over all cases needs its own index (the sweep's (status, deadline_at) serves only a status
# filter). It is declared here, next to the query that needs it; migration console0001 creates it.
DEADLINE_INDEX = Index("ix_reports_deadline_at", Report.deadline_at)

SORTS = {
    "newest": (Report.submitted_at.desc(), Report.id.desc()),
    "oldest": (Report.submitted_at.asc(), Report.id.asc()),
    "deadline": (Report.deadline_at.asc().nulls_last(), Report.id.asc()),
}
MAX_PER_PAGE = 200


class BadFilter(ValueError):
    """A filter value we cannot use (the message names the parameter)."""


@dataclass
class CaseFilter:
    """What a staff user asked the case list for; every field optional."""

    status: list[str] = field(default_factory=list)
    category: str | None = None  # a class (E05) or subclass (E0504) code
    grid: str | None = None  # a grid cell code; includes the cells below it
    department: str | None = None  # a department code
    overdue: bool | None = None
    date_from: date | None = None  # local dates, inclusive
    date_to: date | None = None
    channel: str | None = None
    q: str | None = None  # a case number (exact) or text in descriptions, addresses and numbers (app.reports.search)
    sort: str = "newest"
    page: int = 1
    per_page: int = 50

    @classmethod
    def from_args(cls, args) -> CaseFilter:
        """Parse query-string arguments (a MultiDict or dict); raises BadFilter naming the bad parameter."""
        get = args.get
        statuses = args.getlist("status") if hasattr(args, "getlist") else [get("status")]
        statuses = [s for part in statuses if part for s in str(part).split(",") if s]
        bad = [s for s in statuses if s not in STATUSES]
        if bad:
            raise BadFilter(f"status: 未知状态 {', '.join(bad)}")
        channel = (get("channel") or "").strip() or None
        if channel and channel not in CHANNELS:
            raise BadFilter(f"channel: 未知渠道 {channel}")
        overdue_raw = (get("overdue") or "").strip().lower()
        if overdue_raw not in ("", "1", "0", "true", "false", "yes", "no"):
            raise BadFilter("overdue: 只能是 1 或 0")
        overdue = None if overdue_raw == "" else overdue_raw in ("1", "true", "yes")
        q = (get("q") or "").strip() or None
        if q and len(q) > search.MAX_QUERY_CHARS:
            raise BadFilter(f"q: 最多 {search.MAX_QUERY_CHARS} 个字")
        if q and search.is_case_number(q):
            q = q.upper()
        sort = (get("sort") or "newest").strip()
        if sort not in SORTS:
            raise BadFilter(f"sort: 只能是 {'、'.join(SORTS)}")
        return cls(
            status=statuses,
            category=(get("category") or "").strip() or None,
            grid=(get("grid") or "").strip() or None,
            department=(get("department") or "").strip() or None,
            overdue=overdue,
            date_from=_date(get("date_from"), "date_from"),
            date_to=_date(get("date_to"), "date_to"),
            channel=channel,
            q=q,
            sort=sort,
            page=_int(get("page"), "page", 1, 1, 100_000),
            per_page=_int(get("per_page"), "per_page", 50, 1, MAX_PER_PAGE),
        )

    def as_args(self, **changes) -> dict:
        """This filter as query-string arguments (for pagination and sort links)."""
        out = {}
        for f in fields(self):
            value = changes.get(f.name, getattr(self, f.name))
            if value in (None, [], "") or (f.name == "sort" and value == "newest"):
                continue
            if f.name == "overdue":
                value = "1" if value else "0"
            elif f.name == "status":
                value = ",".join(value)
            out[f.name] = str(value)
        return out


def _date(raw, name: str) -> date | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise BadFilter(f"{name}: 日期格式应为 YYYY-MM-DD") from exc


def _int(raw, name: str, default: int, lo: int, hi: int) -> int:
    raw = (str(raw) if raw is not None else "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadFilter(f"{name}: 应为整数") from exc
    if not lo <= value <= hi:
        raise BadFilter(f"{name}: 应在 {lo} 到 {hi} 之间")
    return value


def local_day_start(day: date) -> datetime:
    """The UTC instant at which a local calendar day begins."""
    tz = ZoneInfo(current_app.config.get("TIMEZONE", "Asia/Shanghai"))
    return datetime.combine(day, time.min, tzinfo=tz).astimezone(UTC)


def scoped(query: Select, actor: Actor) -> Select:
    """Restrict a query on Report to what the actor may see: a handler (or department token) only their own."""
    if actor.role == "handler" or (actor.kind == "api" and actor.department_id is not None):
        return query.where(Report.department_id == actor.department_id)
    return query


def can_see(report: Report, actor: Actor) -> bool:
    """Whether the actor may see this case at all (others get a 404, as if it did not exist)."""
    if actor.role == "handler" or (actor.kind == "api" and actor.department_id is not None):
        return report.department_id == actor.department_id
    return True


def grid_with_descendants(code: str) -> list[int]:
    """The ids of a grid cell and every cell below it."""
    rows = db.session.execute(select(GridCell.id, GridCell.parent_id, GridCell.code)).all()
    root = next((r.id for r in rows if r.code == code), None)
    if root is None:
        raise BadFilter(f"grid: 未知网格 {code}")
    children: dict[int | None, list[int]] = {}
    for r in rows:
        children.setdefault(r.parent_id, []).append(r.id)
    out, todo = [], [root]
    while todo:
        gid = todo.pop()
        out.append(gid)
        todo.extend(children.get(gid, []))
    return out


def _filtered(f: CaseFilter, actor: Actor, with_status: bool = True) -> Select:
    query = scoped(select(Report), actor)
    if f.q and search.is_case_number(f.q):
        return query.where(Report.case_number == f.q)
    if f.q:
        query = search.matching(query, f.q)
    if with_status and f.status:
        query = query.where(Report.status.in_(f.status))
    if f.category:
        # A class (E05) means its subclasses too, by parent (a moved subclass keeps its code); unknown codes are 400.
        chosen = select(Category.id).where(Category.code == f.category).scalar_subquery()
        members = select(Category.id).where((Category.id == chosen) | (Category.parent_id == chosen))
        ids = list(db.session.scalars(members))
        if not ids:
            raise BadFilter(f"category: 未知类别 {f.category}")
        query = query.where(Report.category_id.in_(ids))
    if f.grid:
        query = query.where(Report.grid_id.in_(grid_with_descendants(f.grid)))
    if f.department:
        dept_id = db.session.scalar(select(Department.id).where(Department.code == f.department))
        if dept_id is None:
            raise BadFilter(f"department: 未知单位 {f.department}")
        query = query.where(Report.department_id == dept_id)
    if f.overdue is not None:
        query = query.where(Report.overdue.is_(f.overdue))
    if f.date_from:
        query = query.where(Report.submitted_at >= local_day_start(f.date_from))
    if f.date_to:
        query = query.where(Report.submitted_at < local_day_start(f.date_to + timedelta(days=1)))
    if f.channel:
        query = query.where(Report.channel == f.channel)
    return query


@dataclass
class CasePage:
    """One page of the case list."""

    items: list[Report]
    total: int
    page: int
    per_page: int
    counts: dict[str, int]

    @property
    def pages(self) -> int:
        """How many pages there are (at least one)."""
        return max(1, -(-self.total // self.per_page))


def list_query(f: CaseFilter, actor: Actor) -> Select:
    """The ordered, unpaginated list query (EXPLAIN tests and benchmarks look at this)."""
    ranked = search.rank(f.q) if f.q and f.sort == "newest" and not search.is_case_number(f.q) else []
    return _filtered(f, actor).order_by(*ranked, *SORTS[f.sort])


def list_cases(f: CaseFilter, actor: Actor, with_counts: bool = True) -> CasePage:
    """A page of cases with the total and the per-status counts for the same filters (status aside)."""
    base = _filtered(f, actor)
    total = db.session.scalar(select(func.count()).select_from(base.order_by(None).subquery()))
    items = list(
        db.session.scalars(
            list_query(f, actor)
            .options(selectinload(Report.category), selectinload(Report.department), selectinload(Report.grid))
            .limit(f.per_page)
            .offset((f.page - 1) * f.per_page)
        )
    )
    counts: dict[str, int] = {}
    if with_counts:
        sub = _filtered(f, actor, with_status=False).with_only_columns(Report.status).subquery()
        counts = dict(db.session.execute(select(sub.c.status, func.count()).group_by(sub.c.status)).all())
    return CasePage(items=items, total=total or 0, page=f.page, per_page=f.per_page, counts=counts)


# ------------------------------------------------------------------------------------------------ dashboard


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
    base = scoped(select(Report), actor).where(Report.submitted_at >= since, Report.submitted_at < until).subquery()
    rows = db.session.execute(
        select(base.c.submitted_at, base.c.status, base.c.category_id, base.c.department_id, base.c.overdue,
               base.c.lat, base.c.lng, base.c.closed_at)
    ).all()
    day_list = [first + timedelta(days=i) for i in range(days)]
    per_day = {s: [0] * days for s in STATUSES}
    cats = {c.id: c for c in db.session.scalars(select(Category))}
    depts = {d.id: d.name for d in db.session.scalars(select(Department))}
    by_cat: dict[str, int] = {}
    by_dept: dict[str, int] = {}
    overdue: dict[str, int] = {}
    close_hours: list[float] = []
    minlat, minlng, maxlat, maxlng = _service_box()
    # Square cells on the ground: as many rows as the box is tall relative to its width (a degree of longitude
    # shrinks with cos(latitude)).
    ground_ratio = (maxlat - minlat) / ((maxlng - minlng) * math.cos(math.radians((minlat + maxlat) / 2)))
    heat_rows = max(4, min(3 * heat_size, round(heat_size * ground_ratio)))
    heat = [[0] * heat_size for _ in range(heat_rows)]
    for r in rows:
        idx = (r.submitted_at.astimezone(tz).date() - first).days
        if 0 <= idx < days:
            per_day[r.status][idx] += 1
        cat = cats.get(r.category_id)
        cls = (cats.get(cat.parent_id) if cat and cat.parent_id else cat) if cat else None
        by_cat[cls.name if cls else "未分类"] = by_cat.get(cls.name if cls else "未分类", 0) + 1
        dname = depts.get(r.department_id, "未指定")
        by_dept[dname] = by_dept.get(dname, 0) + 1
        if r.overdue and r.status in OPEN_STATUSES:
            overdue[dname] = overdue.get(dname, 0) + 1
        if r.closed_at is not None and r.status == "closed":
            close_hours.append((r.closed_at - r.submitted_at).total_seconds() / 3600)
        if r.lat is not None and minlat <= r.lat <= maxlat and minlng <= r.lng <= maxlng:  # unplaced: no cell
            row = min(heat_rows - 1, int((maxlat - r.lat) / (maxlat - minlat) * heat_rows))
            col = min(heat_size - 1, int((r.lng - minlng) / (maxlng - minlng) * heat_size))
            heat[row][col] += 1

    def top(d: dict[str, int], n: int = 12) -> list[tuple[str, int]]:
        return sorted(d.items(), key=lambda kv: (-kv[1], kv[0]))[:n]

    return Dashboard(
        days=day_list,
        per_day={s: v for s, v in per_day.items() if any(v)},
        by_category=top(by_cat),
        by_department=top(by_dept),
        overdue_by_department=top(overdue),
        median_hours_to_close=round(statistics.median(close_hours), 1) if close_hours else None,
        closed_count=len(close_hours),
        heat=heat,
        heat_box=(minlat, minlng, maxlat, maxlng),
        total=len(rows),
        outlines=_grid_outlines((minlat, minlng, maxlat, maxlng)),
        satisfaction=satisfaction(since, scoped(select(Report.id), actor)),
        reworked=db.session.scalar(
            select(func.count()).select_from(ReportEvent).where(
                ReportEvent.action == "unresolved", ReportEvent.created_at >= since,
                ReportEvent.report_id.in_(scoped(select(Report.id), actor)))
        ),
    )


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
