"""The public pages of cases: the city's cases on a map and in a list (/cases), one case's trail (/cases/<number>),
and the "inappropriate content" flag. Everything shown is the citizen view's public audience (moderated text,
masked personal data, rounded points); hidden cases appear nowhere.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date, datetime, timedelta

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from redis.exceptions import RedisError
from sqlalchemy import Select, func, select
from sqlalchemy.orm import load_only, selectinload

from app.citizens.services import Actor
from app.events import utcnow
from app.extensions import db, get_redis
from app.reports.assessment import assess
from app.reports.citizen_view import citizen_view, is_public, public_point
from app.reports.models import FLAG_REASONS, CaseFlag, Category, GridCell, Report
from app.reports.periods import period_from_args
from app.reports.queries import BadFilter, grid_with_descendants, local_day_start
from app.reports.services import ReportNotFound, get_report

PAGE_SIZE = 20
MAP_LIMIT = 2000
STATES = {"open": ("reported", "registered", "dispatched", "handled", "unresolved"), "closed": ("verified", "closed")}


class PublicFilter:
    """What the public may filter by: street or community (grid code), class or subclass, open/closed, period."""

    def __init__(self, args) -> None:
        self.area = (args.get("area") or "").strip() or None
        self.category = (args.get("category") or "").strip() or None
        self.state = args.get("state") if args.get("state") in STATES else None
        self.date_from = _day(args.get("date_from"))
        self.date_to = _day(args.get("date_to"))
        self.page = max(1, min(args.get("page", 1, type=int) or 1, 500))

    def apply(self, query: Select) -> Select:
        """The filters as WHERE clauses (hidden and cancelled cases are never public)."""
        query = query.where(Report.moderation != "hidden", Report.status != "cancelled")
        if self.area:
            query = query.where(Report.grid_id.in_(grid_with_descendants(self.area) or [-1]))
        if self.category:
            ids = select(Category.id).where(Category.code.startswith(self.category))
            query = query.where(Report.category_id.in_(ids))
        if self.state:
            query = query.where(Report.status.in_(STATES[self.state]))
        if self.date_from:
            query = query.where(Report.submitted_at >= local_day_start(self.date_from))
        if self.date_to:
            query = query.where(Report.submitted_at < local_day_start(self.date_to + timedelta(days=1)))
        return query

    def args(self, **changes) -> dict:
        """The filter as query arguments (for links)."""
        out = {
            "area": self.area,
            "category": self.category,
            "state": self.state,
            "page": self.page,
            "date_from": self.date_from.isoformat() if self.date_from else None,
            "date_to": self.date_to.isoformat() if self.date_to else None,
        }
        out.update(changes)
        return {k: v for k, v in out.items() if v}


def _day(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def _count(f: PublicFilter) -> int:
    """How many cases match, from Redis for PUBLIC_LIST_CACHE_S (counting a million rows is the slow part)."""
    key = "public-count:" + hashlib.sha256(repr(sorted(f.args(page=None).items())).encode()).hexdigest()[:32]
    ttl = current_app.config["PUBLIC_LIST_CACHE_S"]
    try:
        cached = get_redis().get(key) if ttl > 0 else None
    except RedisError:
        cached = None
    if cached is not None:
        return int(cached)
    n = db.session.scalar(f.apply(select(func.count()).select_from(Report)))
    try:
        if ttl > 0:
            get_redis().set(key, n, ex=ttl)
    except RedisError:
        pass
    return n


def case_list():
    """The city's cases, newest first, with a map; mobile first."""
    f = PublicFilter(request.args)
    query = f.apply(select(Report)).order_by(Report.submitted_at.desc(), Report.id.desc())
    query = query.options(selectinload(Report.trail), selectinload(Report.photos), selectinload(Report.category),
                          selectinload(Report.department), selectinload(Report.grid))
    reports = db.session.scalars(query.offset((f.page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    total = _count(f)
    streets = db.session.scalars(select(GridCell).where(GridCell.level == 2).order_by(GridCell.code)).all()
    classes = db.session.scalars(select(Category).where(Category.parent_id.is_(None)).order_by(Category.code)).all()
    return render_template(
        "public/cases.html",
        views=[citizen_view(r, audience="public") for r in reports],
        f=f,
        total=total,
        pages=max(1, -(-total // PAGE_SIZE)),
        streets=streets,
        classes=classes,
        states={"open": "处理中", "closed": "已办结"},
    )


def street_counts():
    """Per street: 问题数, 结案率, 按期结案率 for a period, by the assessment's own definitions (docs/assessment.md)."""
    try:
        period = period_from_args(request.args)
    except BadFilter as exc:
        return render_template("public/streets.html", error=exc.args[0], rows=[], period=None), 400
    answer = assess(period, "street", Actor.system("公示"))
    rows = [{k: row.get(k) for k in ("key", "name", "reported", "closed_rate", "closed_on_time_rate")}
            for row in answer["rows"]]
    return render_template("public/streets.html", rows=rows, period=answer["period"], error=None)


def case_map():
    """Public points for the map (rounded, no text), as many as MAP_LIMIT of the newest that match."""
    f = PublicFilter(request.args)
    query = (
        f.apply(select(Report)).where(Report.lat.is_not(None)).order_by(Report.submitted_at.desc())
        .options(selectinload(Report.category), load_only(Report.case_number, Report.lat, Report.lng, Report.status,
                                                          Report.category_id))
    )
    points = []
    for r in db.session.scalars(query.limit(MAP_LIMIT)):
        lat, lng = public_point(r)  # the citizen view's rounding, without building the whole view per point
        points.append({"case_number": r.case_number, "lat": lat, "lng": lng, "status": r.status,
                       "status_label": r.status_label, "category": r.category.name if r.category else "待分类"})
    return jsonify(points=points, truncated=len(points) == MAP_LIMIT)


def public_case(case_number: str):
    """The public trail of a case: state and public steps in Chinese, no personal data, no staff names."""
    try:
        report = get_report(case_number=case_number)
    except ReportNotFound:
        abort(404)
    if not is_public(report):
        abort(404)
    return render_template(
        "console/public_case.html", v=citizen_view(report, audience="public"), flag_reasons=FLAG_REASONS
    )


def _client_key() -> str:
    """A keyed hash of the client's address: enough to rate-limit, never the address itself."""
    secret = current_app.config["SECRET_KEY"].encode()
    return hmac.new(secret, (request.remote_addr or "").encode(), hashlib.sha256).hexdigest()[:32]


def _over_limit(client: str) -> bool:
    limit = current_app.config["PUBLIC_FLAG_LIMIT"]
    key = f"public-flag:{client}:{datetime.now().strftime('%Y%m%d%H')}"
    try:
        pipe = get_redis().pipeline()
        pipe.incr(key)
        pipe.expire(key, 3600)
        count, _ = pipe.execute()
    except RedisError:
        return False  # flags are cheap to review: do not refuse them because Redis is away
    return count > limit


def flag_case(case_number: str):
    """Anyone may say a public case is inappropriate; the flag joins the moderators' queue."""
    try:
        report = get_report(case_number=case_number)
    except ReportNotFound:
        abort(404)
    if not is_public(report):
        abort(404)
    reason = request.form.get("reason", "")
    note = (request.form.get("note") or "").strip()
    if reason not in FLAG_REASONS or len(note) > 200:
        flash("请选择原因（说明不超过 200 字）", "error")
        return redirect(url_for("reports.public_case", case_number=report.case_number)), 303
    client = _client_key()
    if _over_limit(client):
        return render_template("public/flag_limited.html", case_number=report.case_number), 429
    db.session.add(CaseFlag(report_id=report.id, reason=reason, note=note, client=client, created_at=utcnow()))
    db.session.commit()
    flash("感谢反馈，工作人员会尽快核实。", "ok")
    return redirect(url_for("reports.public_case", case_number=report.case_number)), 303


def register(bp: Blueprint) -> None:
    """Mount the public pages on the case domain's blueprint (endpoints reports.case_list, reports.public_case …)."""
    bp.add_url_rule("/cases", view_func=case_list, endpoint="public_cases")
    bp.add_url_rule("/cases/map.json", view_func=case_map, endpoint="public_case_map")
    bp.add_url_rule("/cases/streets", view_func=street_counts, endpoint="public_streets")
    bp.add_url_rule("/cases/<case_number>", view_func=public_case, endpoint="public_case")
    bp.add_url_rule("/cases/<case_number>/flag", view_func=flag_case, endpoint="public_case_flag", methods=["POST"])
