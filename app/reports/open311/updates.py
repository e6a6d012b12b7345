"""FixMyStreet's servicerequestupdates extension: GET the updates of our cases in a window, POST an update.

GET servicerequestupdates.{fmt}?start_date=&end_date= (both or neither; at most 90 days; the last 90 by default)
lists each change of a case's state as a <request_update> (update_id, service_request_id, status open|closed,
updated_datetime, description = the step as the citizen view says it,
media_url, external_status_code = our state). Staff notes
are not published here.

POST servicerequestupdates.{fmt} (api_key, service_request_id, update_id, description, status, updated_datetime,
and personal fields that are not stored) adds the client's update to the case's trail as a comment, once per
(client, update_id). A client's status does not move our workflow: a citizen saying "fixed" is for staff to check.
"""

from __future__ import annotations

import hashlib

from flask import request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.citizens.services import Actor
from app.events import utcnow
from app.extensions import api_timestamp, db
from app.reports.citizen_view import citizen_step, is_public_entry
from app.reports.models import STATUS_LABELS, Open311Update, Report, ReportEvent
from app.reports.open311 import parsing as p
from app.reports.open311.parsing import CLOSED_STATUSES, Open311Error
from app.reports.services import _append_trail_after_bump
from app.reports.workflow import ReportError

MAX_UPDATES = 1000
MAX_UPDATE_TEXT = 2000


def list_updates() -> list[dict]:
    """The state changes of every case in the window, oldest first, at most 1000."""
    if bool(p.param("start_date")) != bool(p.param("end_date")):
        raise Open311Error(400, "start_date and end_date go together")
    start, end = p.date_window()
    rows = db.session.execute(
        select(ReportEvent, Report.case_number)
        .join(Report, Report.id == ReportEvent.report_id)
        .where(ReportEvent.created_at >= start, ReportEvent.created_at <= end,
               ReportEvent.from_status.is_not(None), ReportEvent.from_status != ReportEvent.to_status,
               Report.moderation != "hidden")
        .order_by(ReportEvent.created_at, ReportEvent.id)
        .limit(MAX_UPDATES)
    ).all()
    return [
        {
            "update_id": f"{number}-{e.seq}",
            "service_request_id": number,
            "status": "closed" if e.to_status in CLOSED_STATUSES else "open",
            "updated_datetime": api_timestamp(e.created_at),
            "description": _public_text(e),
            "media_url": "",
            "external_status_code": e.to_status,
        }
        for e, number in rows
    ]


def _public_text(entry: ReportEvent) -> str:
    """What the citizen view says of this step: its label, and its note when the note is public."""
    if not is_public_entry(entry):
        return STATUS_LABELS.get(entry.to_status, entry.to_status)
    step = citizen_step(entry)
    return f"{step.label}：{step.note}" if step.note else step.label


def post_update() -> dict:
    """Record a client's update once; the answer's update_id is ours (case number and trail sequence)."""
    key = p.check_api_key()
    number, client_update = p.param("service_request_id"), p.param("update_id") or p.param("update_id_ext")
    if number is None:
        raise Open311Error(400, "service_request_id is required")
    if client_update is None or len(client_update) > 64:
        raise Open311Error(400, "update_id is required (at most 64 characters)")
    text = p.xml_safe(request.values.get("description") or "").strip()
    if not text:
        raise Open311Error(400, "description is required")
    if len(text) > MAX_UPDATE_TEXT:
        raise Open311Error(400, f"description is {len(text)} characters; at most {MAX_UPDATE_TEXT}")
    status = (p.param("status") or "").upper()[:32]
    client = hashlib.sha256(key.encode()).hexdigest()[:32]
    return {"update_id": record_update(number.upper(), client, client_update, text, status)}


def _existing(client: str, client_update: str) -> str | None:
    row = db.session.execute(
        select(Report.case_number, ReportEvent.seq)
        .join(ReportEvent, ReportEvent.report_id == Report.id)
        .join(Open311Update, Open311Update.event_id == ReportEvent.id)
        .where(Open311Update.client == client, Open311Update.update_id == client_update)
    ).first()
    return f"{row[0]}-{row[1]}" if row else None


def record_update(number: str, client: str, client_update: str, text: str, status: str) -> str:
    """One transaction: the trail comment and its (client, update_id) row; a repeat returns the first answer."""
    done = _existing(client, client_update)
    if done:
        return done
    report = db.session.scalar(select(Report).where(Report.case_number == number))
    if report is None:
        raise Open311Error(404, f"service_request_id {number} not found")
    actor = Actor(kind="open311", id=None, name="open311")
    note = f"外部平台补充（{status}）：{text}" if status else f"外部平台补充：{text}"
    report.updated_at = utcnow()
    try:
        _append_trail_after_bump(report, "comment", report.status, actor, note,
                                 {"open311_update_id": client_update, "status": status})
        db.session.flush()
        entry = db.session.scalars(
            select(ReportEvent).where(ReportEvent.report_id == report.id).order_by(ReportEvent.seq.desc()).limit(1)
        ).one()
        db.session.add(Open311Update(client=client, update_id=client_update, report_id=report.id, event_id=entry.id))
        answer = f"{number}-{entry.seq}"
        db.session.commit()
    except (IntegrityError, ReportError) as exc:  # a concurrent try of the same update, or of the same case
        db.session.rollback()
        done = _existing(client, client_update)
        if done:
            return done
        raise Open311Error(409, "the case changed at the same moment; send the update again") from exc
    return answer
