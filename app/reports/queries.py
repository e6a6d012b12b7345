"""Read side of cases: the filtered, scoped, paginated list (no writes here; the dashboard is in dashboard.py)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import Index, Select, func, select, true
from sqlalchemy.orm import selectinload

from app.citizens.services import Actor
from app.extensions import db
from app.reports import search
from app.reports.models import (
    CHANNELS,
    STATUSES,
    Category,
    Department,
    GridCell,
    Report,
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


def scope_department(actor: Actor) -> int | None:
    """The one department whose cases the actor may see (a handler, a department's token), or None: every case."""
    if actor.role == "handler" or (actor.kind == "api" and actor.department_id is not None):
        return actor.department_id
    return None


def in_scope(department_column, actor: Actor):
    """The condition "the actor may see this case" on a department column (of reports or a copy of it)."""
    dept = scope_department(actor)
    return true() if dept is None else department_column == dept


def scoped(query: Select, actor: Actor) -> Select:
    """Restrict a query on Report to what the actor may see: a handler (or department token) only their own."""
    dept = scope_department(actor)
    return query if dept is None else query.where(Report.department_id == dept)


def can_see(report: Report, actor: Actor) -> bool:
    """Whether the actor may see this case at all (others get a 404, as if it did not exist)."""
    dept = scope_department(actor)
    return dept is None or report.department_id == dept


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
    """One page of the case list. `capped`: a text search matched more than search.COUNT_CAP cases; `total` is then
    the cap ("10,000+"), the page is newest first without ranking and the per-status counts are left out."""

    items: list[Report]
    total: int
    page: int
    per_page: int
    counts: dict[str, int]
    capped: bool = False

    @property
    def pages(self) -> int:
        """How many pages there are (at least one)."""
        return max(1, -(-self.total // self.per_page))


def list_query(f: CaseFilter, actor: Actor, ranked: bool = True) -> Select:
    """The ordered, unpaginated list query (EXPLAIN tests and benchmarks look at this); a text search is ranked
    unless `ranked` is False (more hits than search.COUNT_CAP: then newest first, as without a search)."""
    rank = search.rank(f.q) if ranked and f.q and f.sort == "newest" and not search.is_case_number(f.q) else []
    return _filtered(f, actor).order_by(*rank, *SORTS[f.sort])


def _count(query: Select, cap: int | None = None) -> int:
    if cap is not None:
        query = query.with_only_columns(Report.id).limit(cap + 1)
    return db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0


def list_cases(f: CaseFilter, actor: Actor, with_counts: bool = True) -> CasePage:
    """A page of cases with the total and the per-status counts for the same filters (status aside).

    A text search counts at most search.COUNT_CAP + 1 hits (a LIMIT'ed subquery): a common word matching a tenth of
    a million cases is not counted, ranked and tallied per status in full."""
    base = _filtered(f, actor)
    text_search = bool(f.q) and not search.is_case_number(f.q)
    total = _count(base, search.COUNT_CAP if text_search else None)
    capped = text_search and total > search.COUNT_CAP
    total = min(total, search.COUNT_CAP) if capped else total
    items = list(
        db.session.scalars(
            list_query(f, actor, ranked=not capped)
            .options(selectinload(Report.category), selectinload(Report.department), selectinload(Report.grid))
            .limit(f.per_page)
            .offset((f.page - 1) * f.per_page)
        )
    )
    counts: dict[str, int] = {}
    if with_counts and not capped:
        sub = _filtered(f, actor, with_status=False).with_only_columns(Report.status).subquery()
        counts = dict(db.session.execute(select(sub.c.status, func.count()).group_by(sub.c.status)).all())
    return CasePage(items=items, total=total, page=f.page, per_page=f.per_page, counts=counts, capped=capped)
