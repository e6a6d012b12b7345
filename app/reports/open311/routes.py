"""Open311 GeoReport v2 (/open311/v2/...), JSON and XML, and the job that fetches a request's media_url.

Services are the category subclasses (group = the class's name). A POST goes through submit_report with channel
open311. Status is open|closed with our own state in status_notes. No citizen identity ever leaves through here:
the optional personal fields of a POST (email, name, phone, device_id, account_id) are not stored at all.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from html import unescape
from urllib.parse import urlsplit

import requests
from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.events import utcnow
from app.extensions import api_timestamp, csrf, db
from app.jobs import app_job, enqueue
from app.media import MediaRejected, store_image
from app.reports.models import OPEN_STATUSES, Category, Report, ReportPhoto
from app.reports.services import PhotoInput, Submission, submit_report
from app.reports.workflow import CANCEL_REASONS, ReportError

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")
csrf.exempt(bp)

FMT = "<any(json,xml):fmt>"
MAX_DESCRIPTION = 4000
MAX_RANGE = timedelta(days=90)
DEFAULT_PAGE_SIZE = 1000
CHANGESET = "2026-11-24T00:00:00Z"
CLOSED_STATUSES = ("verified", "closed", "cancelled")
UNCLASSIFIED = ("unclassified", "待分类")
_TAG_RE = re.compile(r"<[^>]*>")


class Open311Error(Exception):
    """An error answered in the spec's format: [{"code": 400, "description": "..."}]."""

    def __init__(self, status: int, description: str):
        super().__init__(description)
        self.status = status
        self.description = description


# ------------------------------------------------------------------------------------------- rendering


_iso = api_timestamp


def _xml_value(parent: ET.Element, key: str, value) -> None:
    el = ET.SubElement(parent, key)
    if isinstance(value, bool):
        el.text = "true" if value else "false"
    elif isinstance(value, list):
        item_tag = {"formats": "format", "attributes": "attribute", "values": "value", "endpoints": "endpoint"}
        for item in value:
            _xml_value(el, item_tag.get(key, "item"), item)
    elif isinstance(value, dict):
        for k, v in value.items():
            _xml_value(el, k, v)
    elif value is not None:
        el.text = str(value)


def render(fmt: str, root: str, item: str | None, data, status: int = 200) -> Response:
    """JSON as is; XML with the spec's element names (<services><service>…, <service_requests><request>…)."""
    if fmt == "json":
        response = jsonify(data)
        response.status_code = status
        return response
    top = ET.Element(root)
    if item is None:
        for k, v in data.items():
            _xml_value(top, k, v)
    else:
        for entry in data:
            _xml_value(top, item, entry)
    body = b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(top, encoding="utf-8", xml_declaration=False)
    return Response(body, status=status, mimetype="text/xml", content_type="text/xml; charset=utf-8")


def _fmt() -> str:
    return (request.view_args or {}).get("fmt") or ("xml" if request.path.endswith(".xml") else "json")


@bp.errorhandler(Open311Error)
def _open311_error(exc: Open311Error):
    fmt = _fmt()
    if fmt == "xml":
        return render("xml", "errors", "error", [{"code": exc.status, "description": exc.description}], exc.status)
    return render("json", "", None, [{"code": exc.status, "description": exc.description}], exc.status)


def _service(c: Category, parent: Category | None) -> dict:
    return {
        "service_code": c.code,
        "service_name": c.name,
        "description": f"{parent.name if parent else ''} / {c.name}（处置时限 {c.time_limit_hours} 小时）",
        "metadata": False,
        "type": "realtime",
        "keywords": ",".join(k.keyword for k in c.keywords[:12]),
        "group": parent.name if parent else c.name,
    }


def request_dict(r: Report) -> dict:
    """A case as an Open311 service request (never the reporter's identity)."""
    notes = r.status_label
    if r.status == "cancelled" and r.cancel_reason:
        notes += f"：{CANCEL_REASONS.get(r.cancel_reason, r.cancel_reason)}"
    if r.overdue and r.status in OPEN_STATUSES:
        notes += "（已超期督办）"
    code, name = (r.category.code, r.category.name) if r.category else UNCLASSIFIED
    out = {
        "service_request_id": r.case_number,
        "status": "closed" if r.status in CLOSED_STATUSES else "open",
        "status_notes": notes,
        "service_name": name,
        "service_code": code,
        "description": r.description,
        "agency_responsible": r.department.name if r.department else None,
        "service_notice": "",
        "requested_datetime": _iso(r.submitted_at),
        "updated_datetime": _iso(r.updated_at),
        "expected_datetime": _iso(r.deadline_at),
        "address": r.address,
        "lat": r.lat,
        "long": r.lng,
    }
    return {k: v for k, v in out.items() if v is not None}


# ------------------------------------------------------------------------------------------ read endpoints


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
    return render(fmt, "services", "service", [_service(c, p) for c, p in _subclasses()])


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


def _param(name: str) -> str | None:
    value = request.values.get(name)
    return value.strip() if value is not None and value.strip() else None  # empty means absent


def _parse_dt(name: str) -> datetime | None:
    raw = _param(name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError as exc:
        raise Open311Error(400, f"{name} must be an ISO 8601 datetime such as 2026-11-01T00:00:00Z") from exc
    if value.tzinfo is None:
        raise Open311Error(400, f"{name} must carry a timezone (use Z for UTC)")
    return value.astimezone(UTC)


def _positive(name: str, default: int, maximum: int) -> int:
    raw = _param(name)
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise Open311Error(400, f"{name} must be a whole number from 1 to {maximum}")
    return int(raw)


def requests_query():
    """The query behind GET requests.{fmt}, from the request's parameters (EXPLAIN tests and benches use it)."""
    query = select(Report).options(selectinload(Report.category), selectinload(Report.department))
    ids = _param("service_request_id")
    if ids:
        numbers = [x.strip().upper() for x in ids.split(",") if x.strip()][:DEFAULT_PAGE_SIZE]
        return query.where(Report.case_number.in_(numbers)).order_by(Report.submitted_at.desc(), Report.id.desc())
    start, end = _parse_dt("start_date"), _parse_dt("end_date")
    if start and end and end < start:
        raise Open311Error(400, "end_date is before start_date")
    if start and end and end - start > MAX_RANGE:
        raise Open311Error(400, "start_date and end_date may be at most 90 days apart")
    if start is None and end is None:
        end = utcnow()
    if start is None:
        start = end - MAX_RANGE
    if end is None:
        end = start + MAX_RANGE  # a window never spans more than 90 days
    query = query.where(Report.submitted_at >= start, Report.submitted_at <= end)
    codes = _param("service_code")
    if codes:
        wanted = [c.strip() for c in codes.split(",") if c.strip()]
        query = query.where(Report.category_id.in_(select(Category.id).where(Category.code.in_(wanted))))
    status = _param("status")
    if status:
        wanted = {s.strip().lower() for s in status.split(",") if s.strip()}
        if not wanted <= {"open", "closed"}:
            raise Open311Error(400, "status must be open, closed or both (comma separated)")
        if wanted == {"open"}:
            query = query.where(Report.status.in_(OPEN_STATUSES))
        elif wanted == {"closed"}:
            query = query.where(Report.status.in_(CLOSED_STATUSES))
    return query.order_by(Report.submitted_at.desc(), Report.id.desc())


@bp.get(f"/requests.{FMT}")
def list_requests(fmt: str):
    """Service requests with every filter of the spec (and page/page_size); at most 1000 per page."""
    query = requests_query()
    page = _positive("page", 1, 1_000_000)
    size = _positive("page_size", DEFAULT_PAGE_SIZE, DEFAULT_PAGE_SIZE)
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
    if report is None:
        raise Open311Error(404, f"service_request_id {request_id} not found")
    return render(fmt, "service_requests", "request", [request_dict(report)])


@bp.get(f"/tokens/<token>.{FMT}")
def get_token(token: str, fmt: str):
    """The service request created by a POST that answered with this token."""
    report = db.session.scalar(select(Report).where(Report.client_ref == f"open311:{token}"))
    if report is None:
        raise Open311Error(404, f"token {token} not found")
    return render(fmt, "service_requests", "request", [{"service_request_id": report.case_number, "token": token}])


@bp.route("/<path:unknown>", methods=["GET", "POST"])
def unknown_endpoint(unknown: str):
    """Anything else under /open311/v2/ is a 404 in the spec's format (XML when the path ends in .xml)."""
    raise Open311Error(404, f"no such endpoint: {unknown} (formats are .json and .xml)")


# ------------------------------------------------------------------------------------------------ POST


def _check_api_key() -> None:
    key = _param("api_key")
    keys = current_app.config.get("OPEN311_API_KEYS") or []
    if not key:
        raise Open311Error(403, "api_key is required")
    if key not in keys:
        raise Open311Error(403, "api_key is not valid")


def _is_public(address: str) -> bool:
    """False for loopback, private, link-local, multicast, reserved and unspecified addresses."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve_public(host: str, port: int) -> list[str]:
    """The addresses of `host`, all of which must be public; raises ValueError otherwise."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ValueError(f"cannot resolve {host}") from exc
    addresses = sorted({info[4][0] for info in infos})
    if not addresses or not all(_is_public(a) for a in addresses):
        raise ValueError(f"{host} resolves to an internal address")
    return addresses


def check_media_url(url: str) -> str:
    """An http(s) URL on an allow-listed host (OPEN311_MEDIA_HOSTS) that resolves to public addresses only."""
    if len(url) > 190:
        raise ValueError("media_url is too long")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("media_url must be an http or https URL")
    if parts.username or parts.password:
        raise ValueError("media_url must not carry credentials")
    host = parts.hostname.lower().rstrip(".")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None and not _is_public(host):
        raise ValueError("media_url points at an internal address")
    allowed = [h.lower() for h in current_app.config.get("OPEN311_MEDIA_HOSTS") or []]
    if not any(host == h or (h.startswith("*.") and host.endswith(h[1:])) for h in allowed):
        raise ValueError(f"media_url host {host} is not on the allow-list")
    resolve_public(host, parts.port or (443 if parts.scheme == "https" else 80))
    return url


def _location() -> tuple[float, float]:
    lat, lng = _param("lat"), _param("long")
    if lat is None and lng is None:
        if _param("address_string") or _param("address_id"):
            raise Open311Error(400, "lat and long are required: this server does not geocode address_string")
        raise Open311Error(400, "a location is required: lat and long")
    if lat is None or lng is None:
        raise Open311Error(400, "lat and long must be given together")
    try:
        return float(lat), float(lng)
    except ValueError as exc:
        raise Open311Error(400, "lat and long must be numbers") from exc


@bp.post(f"/requests.{FMT}")
def create_request(fmt: str):
    """Create a case from a service request; media_url is fetched afterwards by a job."""
    _check_api_key()
    code = _param("service_code")
    if code is None:
        raise Open311Error(400, "service_code is required")
    category = _active_subclass(code)
    lat, lng = _location()
    description = _TAG_RE.sub("", unescape(request.values.get("description") or "")).strip()
    if len(description) > MAX_DESCRIPTION:
        raise Open311Error(400, f"description is {len(description)} characters; at most {MAX_DESCRIPTION}")
    media_url = _param("media_url")
    if media_url:
        try:
            check_media_url(media_url)
        except ValueError as exc:
            raise Open311Error(400, str(exc)) from exc
    token = uuid.uuid4().hex
    try:
        report = submit_report(
            Submission(
                channel="open311",
                lat=lat,
                lng=lng,
                crs="wgs84",
                description=description or category.name,
                category_code=category.code,
                address=_param("address_string"),
                photos=[PhotoInput(source_ref=f"url:{media_url}")] if media_url else [],
                client_ref=f"open311:{token}",
            )
        )
    except ReportError as exc:
        db.session.rollback()
        raise Open311Error(400, exc.message) from exc
    pending = [p.id for p in report.photos if p.status == "pending"]
    number = report.case_number
    db.session.commit()  # end the read transaction (on SQLite it holds the write lock an inline job needs)
    for photo_id in pending:
        enqueue(fetch_media_url, photo_id, queue="media", job_id=f"open311-media-{photo_id}")
    link = f"{current_app.config['PUBLIC_BASE_URL']}/cases/{number}"
    notice = f"案件编号 {number}，可在 {link} 查看进度"
    return render(
        fmt,
        "service_requests",
        "request",
        [{"service_request_id": number, "token": token, "service_notice": notice, "account_id": None}],
        201,
    )


# ------------------------------------------------------------------------------------------------- job


def _mark(photo: ReportPhoto, **values) -> None:
    for k, v in values.items():
        setattr(photo, k, v)
    db.session.commit()


@app_job
def fetch_media_url(photo_id: int) -> str:
    """Fetch a pending `url:` photo once: allow-listed host, public address, no redirects, the usual media checks."""
    photo = db.session.get(ReportPhoto, photo_id)
    if photo is None or photo.status != "pending" or not (photo.source_ref or "").startswith("url:"):
        return "nothing to do"
    url = photo.source_ref[4:]
    max_bytes = current_app.config["MEDIA_MAX_BYTES"]
    try:
        check_media_url(url)
        with requests.get(
            url,
            allow_redirects=False,
            timeout=(5, 20),
            stream=True,
            headers={"User-Agent": "baixing-open311-media/1", "Accept": "image/jpeg, image/png"},
        ) as response:
            if response.is_redirect or response.status_code != 200:
                raise ValueError(f"media_url answered HTTP {response.status_code} (redirects are not followed)")
            data = bytearray()
            for chunk in response.iter_content(64 * 1024):
                data += chunk
                if len(data) > max_bytes:
                    raise ValueError("media_url is larger than MEDIA_MAX_BYTES")
        stored = store_image(bytes(data))
    except (ValueError, requests.RequestException) as exc:
        message = exc.message if isinstance(exc, MediaRejected) else str(exc)
        _mark(photo, status="missing", missing_reason=message[:200])
        return f"missing: {message}"
    _mark(photo, status="stored", sha256=stored.sha256, width=stored.width, height=stored.height)
    return "stored"
