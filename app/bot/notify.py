"""Telling citizens: case status changes, return visits and points, at most one message per cause whatever the retries.

A subscriber writes an `OutboundMessage` with a unique key (status:<case>:<trail seq>:<citizen>, visit:<visit>,
points:<case>:<citizen>:<amount>) and a
send job is enqueued after its commit. The job claims the row (pending/failed → sending) in one UPDATE, so only one
run ever sends it; then: a customer-service message inside WeChat's 48-hour window, else a template message when
WECHAT_TEMPLATE_ID is set, else the row stays "undelivered" and 「我的举报」 shows it.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import requests
from flask import current_app
from sqlalchemy import select, update

from app.bot import messages as M
from app.bot import visits
from app.bot.after_commit import enqueue_after_commit
from app.bot.client import WeChatClientException, get_client
from app.bot.models import OutboundMessage
from app.citizens.models import Citizen
from app.events import utcnow
from app.extensions import db
from app.jobs import app_job
from app.reports.citizen_view import citizen_view
from app.reports.followers import follower_ids
from app.reports.models import STATUS_LABELS, Report, ReturnVisit

log = logging.getLogger(__name__)

WINDOW = timedelta(hours=48)
OUTSIDE_WINDOW = 45015


NO_ACCOUNT = "mini-program only: no official-account openid to send to"


def _queue(citizen_id: int, report_id: int | None, kind: str, key: str, text: str, data: dict) -> None:
    """Write the message once per key and send it after the commit. A citizen known only from the mini-program has no
    official-account openid: the row is recorded undelivered at once (their subscribe messages and the mini-program's
    pages tell them), never sent to WeChat with no recipient and retried."""
    if db.session.scalar(select(OutboundMessage.id).where(OutboundMessage.dedup_key == key)) is not None:
        return
    row = OutboundMessage(dedup_key=key, citizen_id=citizen_id, report_id=report_id, kind=kind, text=text, data=data)
    if db.session.scalar(select(Citizen.openid).where(Citizen.id == citizen_id)) is None:
        row.status, row.error = "undelivered", NO_ACCOUNT
        db.session.add(row)
        return
    db.session.add(row)
    db.session.flush()
    enqueue_after_commit(send_outbound, row.id, queue="notify", job_id=f"wx-out-{row.id}")


def _public_note(report: Report | None, seq: int | None, fallback: str | None) -> str | None:
    """The note of trail entry `seq` as the citizen view shows it (None unless public); events without a seq carry
    the public note themselves."""
    if report is None or seq is None:
        return fallback
    return next((step.note for step in citizen_view(report, audience="public").steps if step.seq == seq), None)


# Steps a follower is told of (the reporter hears every change); 结案 reaches both as the return visit.
FOLLOWER_STATUSES = {"handled", "unresolved", "registered"}


def _status_key(evt, citizen_id: int) -> str:
    """One message per trail entry and citizen: a reopen or a second dispatch is a new entry, a job run twice is not."""
    if evt.seq is None:  # an event written before entries were numbered in it
        return f"status:{evt.report_id}:{evt.to_status}"
    return f"status:{evt.report_id}:{evt.seq}:{citizen_id}"


def on_report_status_changed(evt) -> None:
    """Subscriber of ReportStatusChanged: tell the reporter, and the followers of the public steps they follow.

    结案 is told by the return visit (one message: the news and the question), see on_return_visit_asked.
    """
    if evt.to_status == evt.from_status and evt.action != "dispatch":
        return
    if evt.to_status == "closed":
        return
    label = M.STATUS_NOTICE_LABELS.get(evt.to_status, STATUS_LABELS.get(evt.to_status, evt.to_status))
    report = db.session.get(Report, evt.report_id)
    if "{department}" in label:
        label = label.format(department=report.department.name if report and report.department else "责任单位")
    public = _public_note(report, evt.seq, evt.note)
    note = f"说明：{public}" if public and evt.to_status in ("handled", "cancelled", "closed") else ""
    data = {"case_number": evt.case_number, "status": evt.to_status}
    if evt.citizen_id and evt.citizen_id != evt.told_citizen_id:
        text = M.STATUS_NOTICE.format(case_number=evt.case_number, label=label, note=note).strip()
        _queue(evt.citizen_id, evt.report_id, "status", _status_key(evt, evt.citizen_id), text, data)
    if evt.to_status not in FOLLOWER_STATUSES or evt.seq is None:
        return
    text = M.FOLLOWER_NOTICE.format(case_number=evt.case_number, label=label, note=note).strip()
    for citizen_id in follower_ids(evt.report_id):
        if citizen_id not in (evt.citizen_id, evt.told_citizen_id):
            _queue(citizen_id, evt.report_id, "status", _status_key(evt, citizen_id), text, data)


def on_return_visit_asked(evt) -> None:
    """Subscriber of ReturnVisitAsked: the closing news and the question, in one message; the chat then takes the
    answer (a Redis marker tells the webhook, in the push's first round trip, that a question is pending)."""
    visit = db.session.get(ReturnVisit, evt.visit_id)
    public = _public_note(db.session.get(Report, evt.report_id), visit.close_seq if visit else None, evt.note)
    note = f"说明：{public}" if public else ""
    intro = M.VISIT_INTRO_FOLLOWER if evt.role == "follower" else M.VISIT_INTRO
    text = M.RETURN_VISIT.format(intro=intro.format(case_number=evt.case_number), note=note)
    _queue(evt.citizen_id, evt.report_id, "return_visit", f"visit:{evt.visit_id}", text,
           {"case_number": evt.case_number, "status": "closed", "visit_id": evt.visit_id})
    citizen = db.session.get(Citizen, evt.citizen_id)
    if citizen is not None and citizen.openid:  # the chat's marker; a mini-program citizen answers in the app
        ttl = (current_app.config["FEEDBACK_WINDOW_DAYS"] + visits.LATE_GRACE_DAYS) * 86400
        enqueue_after_commit(visits.mark_pending_job, citizen.openid, evt.visit_id, ttl)


def on_points_awarded(evt) -> None:
    """Subscriber of PointsAwarded: tell the citizen what the case earned."""
    if not evt.citizen_id or not evt.amount:
        return
    text = M.POINTS_NOTICE.format(amount=evt.amount, balance=evt.balance)
    _queue(
        evt.citizen_id,
        evt.report_id,
        "points",
        f"points:{evt.report_id}:{evt.citizen_id}:{evt.amount}",
        text,
        {"amount": evt.amount, "balance": evt.balance},
    )


def _link(data: dict) -> str:
    """Where a template message opens: the case's public page (the points pages for a message about no case)."""
    base = current_app.config["PUBLIC_BASE_URL"]
    case_number = data.get("case_number")
    return f"{base}/cases/{case_number}" if case_number else f"{base}/points/"


def _template_data(row: OutboundMessage) -> dict:
    return {
        "first": {"value": row.text},
        "keyword1": {"value": row.data.get("case_number", "")},
        "keyword2": {"value": STATUS_LABELS.get(row.data.get("status", ""), row.kind)},
        "remark": {"value": "回复「查询」查看详细进度"},
    }


@app_job
def send_outbound(outbound_id: int) -> str:
    """Send one notification, at most once: claimed by a conditional UPDATE before any network call."""
    claimed = db.session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id == outbound_id, OutboundMessage.status.in_(("pending", "failed")))
        .values(status="sending", attempts=OutboundMessage.attempts + 1)
    ).rowcount
    db.session.commit()
    if not claimed:
        return "already"
    row = db.session.get(OutboundMessage, outbound_id)
    citizen = db.session.get(Citizen, row.citizen_id)
    in_window = citizen.last_message_at is not None and utcnow() - citizen.last_message_at < WINDOW
    template_id = current_app.config.get("WECHAT_TEMPLATE_ID")
    openid, text, data, data_of_row = citizen.openid, row.text, _template_data(row), dict(row.data or {})
    db.session.rollback()  # no transaction open while we wait on WeChat
    status, channel, error = "undelivered", None, "outside the 48-hour window and no template configured"
    try:
        client = get_client()
        if in_window and citizen.subscribed:
            try:
                client.call(client.message.send_text, openid, text)
                status, channel, error = "sent", "custom", None
            except WeChatClientException as exc:
                if exc.errcode != OUTSIDE_WINDOW:
                    raise
                error = "45015: outside the customer-service window"
        if status != "sent" and template_id:
            url = _link(data_of_row)
            client.call(client.message.send_template, openid, template_id, data, url=url)
            status, channel, error = "sent", "template", None
    except requests.ReadTimeout as exc:
        # WeChat may have delivered it: sending again could make two. At most once: record, do not retry.
        status, error = "undelivered", f"timeout, delivery unknown: {exc}"[:200]
    except (WeChatClientException, requests.RequestException) as exc:
        _finish(outbound_id, "failed", None, f"{type(exc).__name__}: {exc}"[:200])
        raise  # rq retries with backoff; the row can be claimed again
    _finish(outbound_id, status, channel, error)
    return status


def _finish(outbound_id: int, status: str, channel: str | None, error: str | None) -> None:
    db.session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id == outbound_id)
        .values(status=status, channel=channel, error=error, sent_at=utcnow() if status == "sent" else None)
    )
    db.session.commit()
