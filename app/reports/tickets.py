"""Ticket intake for a 12345 platform or sensors: POST /api/staff/tickets, idempotent per (source, external_id).

The case is made by submit_report (channel `ticket`, client_ref `tk:<source>:<external_id>`, so a retried or
concurrent push finds the same case); the ticket row keeps the source's id, the private contact and the source's
deadline. Media URLs are fetched by the Open311 media job with the same safety rules. See docs/tickets.md.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.citizens.services import Actor
from app.extensions import db
from app.fetch import check_url
from app.jobs import enqueue
from app.reports.callbacks import check_callback_url
from app.reports.categories import suggest_category
from app.reports.models import Report
from app.reports.open311.media import fetch_media_url, media_policy
from app.reports.services import InvalidReport, PhotoInput, Submission, submit_report
from app.reports.supervision import parse_deadline
from app.reports.ticket_models import Ticket, TicketSource
from app.reports.workflow import ReportError

FIELDS = frozenset(
    {
        "external_id",
        "source",
        "lat",
        "lng",
        "crs",
        "address",
        "description",
        "category_code",
        "contact",
        "media_urls",
        "deadline",
    }
)
MAX_MEDIA = 6
MAX_CONTACT_CHARS = 500
_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_SOURCE_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class UnknownSource(ReportError):
    """A ticket from a source nobody registered (or one that was switched off)."""

    code = "unknown_source"


@dataclass
class TicketInput:
    """A validated push."""

    source: str
    external_id: str
    lat: float | None  # None with lng: an address-only ticket the dispatcher places (needs_location)
    lng: float | None
    crs: str = "wgs84"
    address: str | None = None
    description: str = ""
    category_code: str | None = None
    contact: dict = field(default_factory=dict)
    media_urls: list[str] = field(default_factory=list)
    deadline: datetime | None = None


def _str(body: dict, name: str, limit: int) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidReport(f"{name} 应为文字")
    if len(value) > limit:
        raise InvalidReport(f"{name} 太长（最多 {limit} 字）")
    return value.strip() or None


def _number(body: dict, name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidReport(f"{name} 应为数字")
    return float(value)


def parse_ticket(body) -> TicketInput:
    """Check a push's JSON body field by field; raises InvalidReport naming the field."""
    if not isinstance(body, dict):
        raise InvalidReport("请求体应为 JSON 对象")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise InvalidReport(f"未知字段：{', '.join(unknown)[:200]}")
    source, external_id = _str(body, "source", 32), _str(body, "external_id", 64)
    if not source or not _SOURCE_RE.match(source):
        raise InvalidReport("source 应为 1-32 位字母、数字、- 或 _")
    if not external_id or not _ID_RE.match(external_id):
        raise InvalidReport("external_id 应为 1-64 位字母、数字或 _ . : -")
    lat, lng = _number(body, "lat"), _number(body, "lng")
    address = _str(body, "address", 200)
    if (lat is None) != (lng is None):
        raise InvalidReport("lat 和 lng 需要同时提供")
    if lat is None and not address:
        raise InvalidReport("需要 lat 和 lng，或者 address（只有地址的工单由派遣员在地图上定位）")
    contact = body.get("contact") or {}
    if isinstance(contact, str):
        contact = {"text": contact}
    if not isinstance(contact, dict) or len(json.dumps(contact, ensure_ascii=False)) > MAX_CONTACT_CHARS:
        raise InvalidReport(f"contact 应为对象（或文字），不超过 {MAX_CONTACT_CHARS} 字")
    media = body.get("media_urls") or []
    if not isinstance(media, list) or len(media) > MAX_MEDIA or not all(isinstance(u, str) for u in media):
        raise InvalidReport(f"media_urls 应为最多 {MAX_MEDIA} 个网址的数组")
    for url in media:
        try:
            check_url(url, media_policy())  # the same pinned, allow-listed fetch as Open311's
        except ValueError as exc:
            raise InvalidReport(f"media_urls: {exc}") from exc
    return TicketInput(
        source=source,
        external_id=external_id,
        lat=lat,
        lng=lng,
        crs=_str(body, "crs", 8) or "wgs84",
        address=address,
        description=_str(body, "description", current_app.config["DESCRIPTION_MAX_CHARS"]) or "",
        category_code=_str(body, "category_code", 16),
        contact=contact,
        media_urls=list(dict.fromkeys(media)),
        deadline=parse_deadline(body.get("deadline")),
    )


def find_ticket(source: str, external_id: str) -> Ticket | None:
    """The ticket a source pushed under this id, if any."""
    return db.session.scalar(select(Ticket).where(Ticket.source == source, Ticket.external_id == external_id))


def intake_ticket(body, actor: Actor) -> tuple[Ticket, Report, bool]:
    """Make (or find) the case of a pushed ticket; returns (ticket, case, created)."""
    t = parse_ticket(body)
    existing = find_ticket(t.source, t.external_id)
    if existing is not None:
        return existing, db.session.get(Report, existing.report_id), False
    source = db.session.scalar(select(TicketSource).where(TicketSource.code == t.source, TicketSource.active))
    if source is None:
        raise UnknownSource(f"未登记的工单来源 {t.source!r}")
    category_code = t.category_code
    if not category_code and t.description:
        suggestions = suggest_category(t.description)
        category_code = suggestions[0].code if suggestions else None
    client_ref = f"tk:{t.source}:{t.external_id}"
    try:
        report = _submit(t, category_code, client_ref)
    except IntegrityError:
        # A concurrent push of the same ticket inserted the case first (submit_report's flush met the unique
        # client_ref before its own commit-time check could): that case is the answer.
        db.session.rollback()
        report = db.session.scalar(select(Report).where(Report.client_ref == client_ref))
        if report is None:
            raise
    report_id, pending = report.id, [p.id for p in report.photos if p.status == "pending"]
    ticket = Ticket(
        source=t.source, external_id=t.external_id, report_id=report_id, contact=t.contact, deadline_at=t.deadline
    )
    db.session.add(ticket)
    try:
        db.session.commit()
    except IntegrityError:  # the same push raced us and won: answer with its ticket
        db.session.rollback()
        ticket = find_ticket(t.source, t.external_id)
        return ticket, db.session.get(Report, ticket.report_id), False
    for photo_id in pending:
        enqueue(fetch_media_url, photo_id, queue="media", job_id=f"ticket-media-{photo_id}")
    return ticket, db.session.get(Report, report_id), True


def _submit(t: TicketInput, category_code: str | None, client_ref: str) -> Report:
    return submit_report(
        Submission(
            channel="ticket",
            lat=t.lat,
            lng=t.lng,
            crs=t.crs,
            description=t.description,
            category_code=category_code,
            address=t.address,
            photos=[PhotoInput(source_ref=f"url:{u}") for u in t.media_urls],
            client_ref=client_ref,
        )
    )


def register_source(
    code: str, name: str = "", callback_url: str | None = None, secret: str | None = None
) -> TicketSource:
    """Create or change a ticket source; a callback URL must pass check_callback_url and comes with a secret."""
    code = (code or "").strip()
    if not _SOURCE_RE.match(code):
        raise InvalidReport("来源编码应为 1-32 位字母、数字、- 或 _")
    if callback_url:
        try:
            check_callback_url(callback_url)
        except ValueError as exc:
            raise InvalidReport(str(exc)) from exc
        if not secret or len(secret) < 16:
            raise InvalidReport("回调需要至少 16 个字符的共享密钥")
    source = db.session.scalar(select(TicketSource).where(TicketSource.code == code))
    if source is None:
        source = TicketSource(code=code)
        db.session.add(source)
    source.name = (name or code)[:100]
    source.callback_url = callback_url or None
    source.callback_secret = secret if callback_url else None
    db.session.commit()
    return source
