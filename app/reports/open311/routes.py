"""The GeoReport v2 endpoints: discovery, services, definitions, requests (GET, POST), one request, tokens.

Services are the category subclasses (group = the class's name). A POST goes through submit_report with channel
open311. Status is open|closed with our own state in status_notes. The optional personal fields of a POST (email,
name, phone, device_id, account_id) are not stored at all. A media_url that may not be fetched (a host not on
OPEN311_MEDIA_HOSTS, an internal address) does not refuse the case: the photo is recorded as not fetched, with why.
"""

from __future__ import annotations

import uuid

from flask import Blueprint, current_app, request
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import MethodNotAllowed, NotFound

from app.extensions import csrf, db
from app.fetch import FetchRefused, check_url
from app.jobs import enqueue
from app.reports.citizen_view import is_public
from app.reports.models import Category, Report
from app.reports.open311 import parsing as p
from app.reports.open311 import updates
from app.reports.open311.media import SOURCE_PREFIX, fetch_media_url, media_policy
from app.reports.open311.parsing import Open311Error
from app.reports.open311.rendering import render, render_error, request_dict, service_dict
from app.reports.services import PhotoInput, Submission, submit_report
from app.reports.workflow import ReportError

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")
csrf.exempt(bp)

FMT = "<any(json,xml):fmt>"
CHANGESET = "2026-12-02T00:00:00Z"
MAX_MEDIA_URLS = 5  # FixMyStreet's multi_photos sends media_url once per photo
SOURCE_REF_MAX = 200
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


@bp.errorhandler(Open311Error)
def _open311_error(exc: Open311Error):
    return render_error(exc.status, exc.description, exc.headers)


@bp.get(f"/discovery.{FMT}")
def discovery(fmt: str):
    """Where this server's endpoints are and what they speak."""
    base = current_app.config["PUBLIC_BASE_URL"]
    data = {
        "changeset": CHANGESET,
        "contact": current_app.config.get("OPEN311_CONTACT") or base,
        "key_service": current_app.config.get("OPEN311_KEY_SERVICE") or "向平台管理员申请 api_key",
        "endpoints": [
            {
                "specification": "http://wiki.open311.org/GeoReport_v2",
                "url": f"{base}/open311/v2",
                "changeset": CHANGESET,
                "type": "test" if current_app.config["APP_ENV"] in ("development", "testing") else "production",
                "formats": ["application/json", "text/xml"],
            }
        ],
    }
    return render(fmt, "discovery", None, data)


def _subclasses() -> list[tuple[Category, Category | None]]:
    cats = list(
        db.session.scalars(
            select(Category).where(Category.active.is_(True)).options(selectinload(Category.keywords)).order_by(
                Category.code
            )
        )
    )
    by_id = {c.id: c for c in cats}
    return [(c, by_id.get(c.parent_id)) for c in cats if c.parent_id is not None]


@bp.get(f"/services.{FMT}")
def services(fmt: str):
    """One service per active category subclass; group = its class."""
    return render(fmt, "services", "service", [service_dict(c, parent) for c, parent in _subclasses()])


def _active_subclass(code: str) -> Category:
    category = db.session.scalar(
        select(Category).where(Category.code == code, Category.active.is_(True), Category.parent_id.is_not(None))
    )
    if category is None:
        raise Open311Error(404, f"service_code {code} not found")
    return category


@bp.get(f"/services/<code>.{FMT}")
def service_definition(code: str, fmt: str):
    """A service's definition: our services take no extra attributes (metadata false)."""
    category = _active_subclass(code)
    return render(fmt, "service_definition", None, {"service_code": category.code, "attributes": []})


@bp.get(f"/requests.{FMT}")
def list_requests(fmt: str):
    """Service requests with every filter of the spec (and page/page_size); at most 1000 per page."""
    query = p.requests_query()
    page = p.positive("page", 1, 1_000_000)
    size = p.positive("page_size", p.DEFAULT_PAGE_SIZE, p.DEFAULT_PAGE_SIZE)
    rows = db.session.scalars(query.limit(size).offset((page - 1) * size)).all()
    return render(fmt, "service_requests", "request", [request_dict(r) for r in rows])


@bp.get(f"/requests/<request_id>.{FMT}")
def get_request(request_id: str, fmt: str):
    """One service request, as a list of one (the spec says so)."""
    report = db.session.scalar(
        select(Report)
        .where(Report.case_number == request_id.strip().upper())
        .options(selectinload(Report.category), selectinload(Report.department))
    )
    if report is None or not is_public(report):
        raise Open311Error(404, f"service_request_id {request_id} not found")
    return render(fmt, "service_requests", "request", [request_dict(report)])


@bp.get(f"/tokens/<token>.{FMT}")
def get_token(token: str, fmt: str):
    """The service request created by a POST that answered with this token."""
    report = db.session.scalar(select(Report).where(Report.client_ref == f"open311:{token}"))
    if report is None:
        raise Open311Error(404, f"token {token} not found")
    return render(fmt, "service_requests", "request", [{"service_request_id": report.case_number, "token": token}])


def _media_photos() -> list[PhotoInput]:
    """One photo per media_url: pending (a job fetches it), or missing at once with the reason it may not be."""
    photos: dict[str, PhotoInput] = {}
    policy = media_policy()
    for url in [u.strip() for u in request.values.getlist("media_url") if u.strip()][:MAX_MEDIA_URLS]:
        ref = SOURCE_PREFIX + url
        reason = None
        try:
            if len(ref) > SOURCE_REF_MAX:
                raise FetchRefused("the URL is too long")
            check_url(url, policy)
        except FetchRefused as exc:
            reason = f"media_url not fetched: {exc}"
        ref = ref[:SOURCE_REF_MAX]
        photos.setdefault(ref, PhotoInput(source_ref=ref, missing_reason=reason))
    return list(photos.values())


@bp.post(f"/requests.{FMT}")
def create_request(fmt: str):
    """Create a case from a service request; media_url is fetched afterwards by a job."""
    p.check_api_key()
    code = p.param("service_code")
    if code is None:
        raise Open311Error(400, "service_code is required")
    category = _active_subclass(code)
    point = p.location() or (None, None)  # address-only: registered without a point, flagged for the dispatcher
    address = " ".join(x for x in (p.param("address_string"), p.param("address_id") and
                                   f"[address_id {p.param('address_id')}]") if x) or None
    description = p.description()
    photos = _media_photos()
    token = uuid.uuid4().hex
    try:
        report = submit_report(
            Submission(
                channel="open311",
                lat=point[0],
                lng=point[1],
                crs="wgs84",
                description=description or category.name,
                category_code=category.code,
                address=address,
                photos=photos,
                client_ref=f"open311:{token}",
                max_description=p.MAX_DESCRIPTION,
            )
        )
    except ReportError as exc:
        db.session.rollback()
        raise Open311Error(400, exc.message) from exc
    pending = [photo.id for photo in report.photos if photo.status == "pending"]
    refused = any(photo.status == "missing" for photo in report.photos)
    number = report.case_number
    db.session.commit()  # end the read transaction (on SQLite it holds the write lock an inline job needs)
    for photo_id in pending:
        enqueue(fetch_media_url, photo_id, queue="media", job_id=f"open311-media-{photo_id}")
    link = f"{current_app.config['PUBLIC_BASE_URL']}/cases/{number}"
    notice = f"案件编号 {number}，可在 {link} 查看进度" + ("（照片未能获取，案件已受理）" if refused else "")
    return render(
        fmt,
        "service_requests",
        "request",
        [{"service_request_id": number, "token": token, "service_notice": notice, "account_id": ""}],
        201,
    )


@bp.get(f"/servicerequestupdates.{FMT}")
def list_request_updates(fmt: str):
    """FixMyStreet's extension: the state changes of our cases in a window (app.reports.open311.updates)."""
    return render(fmt, "service_request_updates", "request_update", updates.list_updates())


@bp.post(f"/servicerequestupdates.{FMT}")
def post_request_update(fmt: str):
    """FixMyStreet's extension: a client's update to one of our cases, kept once per update_id."""
    return render(fmt, "service_request_updates", "request_update", [updates.post_update()], 201)


@bp.route("/<path:unknown>", methods=ALL_METHODS)
def unknown_endpoint(unknown: str):
    """Anything else under /open311/v2/: a 405 when the path exists for another method, else a 404 with the
    formats; both in the spec's error format, XML when the path ends in .xml (any case: services.XML)."""
    adapter = current_app.url_map.bind("", url_scheme=request.scheme)
    allowed = []
    for method in ("GET", "POST"):
        try:
            endpoint, _ = adapter.match(request.path, method=method)
        except (NotFound, MethodNotAllowed):
            continue
        if endpoint != "reports.open311.unknown_endpoint":
            allowed.append(method)
    if allowed:
        raise Open311Error(405, f"{request.method} is not allowed here; use {', '.join(allowed)}",
                           {"Allow": ", ".join(allowed)})
    raise Open311Error(404, f"no such endpoint: {unknown} (formats are .json and .xml, in lower case)")
