"""Reading an Open311 request: parameters (empty means absent), dates, the api_key, the location, the text, the
media_url, and the query behind GET requests. Errors are Open311Error, answered in the spec's format."""

from __future__ import annotations

import hmac
import re
from datetime import UTC, datetime, timedelta

from flask import current_app, request
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.events import utcnow
from app.reports.models import OPEN_STATUSES, Category, Report

MAX_DESCRIPTION = 4000
MAX_RANGE = timedelta(days=90)
DEFAULT_PAGE_SIZE = 1000
CLOSED_STATUSES = ("verified", "closed", "cancelled")
# What XML 1.0 cannot carry at all (C0 controls but tab, LF and CR; the non-characters U+FFFE/U+FFFF; surrogates).
XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class Open311Error(Exception):
    """An error answered in the spec's format: [{"code": 400, "description": "..."}]."""

    def __init__(self, status: int, description: str, headers: dict | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.headers = headers or {}


def xml_safe(text: str) -> str:
    """Text as written, minus the characters XML 1.0 forbids (so every answer parses)."""
    return XML_FORBIDDEN.sub("", text)


def param(name: str) -> str | None:
    """A parameter, stripped; empty means absent (the spec says so)."""
    value = request.values.get(name)
    return value.strip() if value is not None and value.strip() else None


def parse_dt(name: str) -> datetime | None:
    """An ISO 8601 parameter with a timezone, in UTC."""
    raw = param(name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError as exc:
        raise Open311Error(400, f"{name} must be an ISO 8601 datetime such as 2026-11-01T00:00:00Z") from exc
    if value.tzinfo is None:
        raise Open311Error(400, f"{name} must carry a timezone (use Z for UTC)")
    return value.astimezone(UTC)


def positive(name: str, default: int, maximum: int) -> int:
    """A whole number from 1 to maximum."""
    raw = param(name)
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise Open311Error(400, f"{name} must be a whole number from 1 to {maximum}")
    return int(raw)


def date_window() -> tuple[datetime, datetime]:
    """start_date/end_date: at most 90 days apart; the last 90 days by default; one alone spans 90 days."""
    start, end = parse_dt("start_date"), parse_dt("end_date")
    if start and end and end < start:
        raise Open311Error(400, "end_date is before start_date")
    if start and end and end - start > MAX_RANGE:
        raise Open311Error(400, "start_date and end_date may be at most 90 days apart")
    if start is None and end is None:
        end = utcnow()
    if start is None:
        start = end - MAX_RANGE
    if end is None:
        end = start + MAX_RANGE
    return start, end


def check_api_key() -> str:
    """The caller's api_key, compared with every configured key in constant time; 403 otherwise."""
    key = param("api_key")
    if not key:
        raise Open311Error(403, "api_key is required")
    found = False
    for candidate in current_app.config.get("OPEN311_API_KEYS") or []:
        found |= hmac.compare_digest(candidate.encode(), key.encode())
    if not found:
        raise Open311Error(403, "api_key is not valid")
    return key


def location() -> tuple[float, float] | None:
    """lat + long, or None for an address-only request (address_string or address_id); 400 otherwise."""
    lat, lng = param("lat"), param("long")
    if lat is None and lng is None:
        if param("address_string") or param("address_id"):
            return None
        raise Open311Error(400, "a location is required: lat and long, address_string or address_id")
    if lat is None or lng is None:
        raise Open311Error(400, "lat and long must be given together")
    try:
        return float(lat), float(lng)
    except ValueError as exc:
        raise Open311Error(400, "lat and long must be numbers") from exc


def description() -> str:
    """The description as written (`x < y` stays `x < y`: output escapes it), minus XML-forbidden characters."""
    text = xml_safe(request.values.get("description") or "").strip()
    if len(text) > MAX_DESCRIPTION:
        raise Open311Error(400, f"description is {len(text)} characters; at most {MAX_DESCRIPTION}")
    return text


def requests_query():
    """The query behind GET requests.{fmt}, from the request's parameters (EXPLAIN tests and benches use it)."""
    query = select(Report).options(selectinload(Report.category), selectinload(Report.department))
    query = query.where(Report.moderation != "hidden")  # a moderator took it off every public surface
    ids = param("service_request_id")
    if ids:
        numbers = [x.strip().upper() for x in ids.split(",") if x.strip()][:DEFAULT_PAGE_SIZE]
        return query.where(Report.case_number.in_(numbers)).order_by(Report.submitted_at.desc(), Report.id.desc())
    start, end = date_window()
    query = query.where(Report.submitted_at >= start, Report.submitted_at <= end)
    codes = param("service_code")
    if codes:
        wanted = [c.strip() for c in codes.split(",") if c.strip()]
        query = query.where(Report.category_id.in_(select(Category.id).where(Category.code.in_(wanted))))
    status = param("status")
    if status:
        wanted = {s.strip().lower() for s in status.split(",") if s.strip()}
        if not wanted <= {"open", "closed"}:
            raise Open311Error(400, "status must be open, closed or both (comma separated)")
        if wanted == {"open"}:
            query = query.where(Report.status.in_(OPEN_STATUSES))
        elif wanted == {"closed"}:
            query = query.where(Report.status.in_(CLOSED_STATUSES))
    return query.order_by(Report.submitted_at.desc(), Report.id.desc())
