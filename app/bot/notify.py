"""Telling citizens: case status changes and points, at most one message per cause whatever the retries.

A subscriber writes an `OutboundMessage` with a unique key (status:<case>:<status>, points:<case>:<amount>) and a
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
from app.bot.after_commit import enqueue_after_commit
from app.bot.client import WeChatClientException, get_client
from app.bot.models import OutboundMessage
from app.citizens.models import Citizen
from app.events import utcnow
from app.extensions import db
from app.jobs import app_job
from app.reports.models import STATUS_LABELS, Report

log = logging.getLogger(__name__)

WINDOW = timedelta(hours=48)
OUTSIDE_WINDOW = 45015


def _queue(citizen_id: int, report_id: int | None, kind: str, key: str, text: str, data: dict) -> None:
    if db.session.scalar(select(OutboundMessage.id).where(OutboundMessage.dedup_key == key)) is not None:
        return
    row = OutboundMessage(dedup_key=key, citizen_id=citizen_id, report_id=report_id, kind=kind, text=text, data=data)
    db.session.add(row)
    db.session.flush()
    enqueue_after_commit(send_outbound, row.id, queue="notify", job_id=f"wx-out-{row.id}")


def on_report_status_changed(evt) -> None:
    """Subscriber of ReportStatusChanged: tell the reporter (one message per case and status)."""
    if not evt.citizen_id or (evt.to_status == evt.from_status and evt.action != "dispatch"):
        return
    label = M.STATUS_NOTICE_LABELS.get(evt.to_status, STATUS_LABELS.get(evt.to_status, evt.to_status))
    if "{department}" in label:
        report = db.session.get(Report, evt.report_id)
        label = label.format(department=report.department.name if report and report.department else "责任单位")
    note = f"说明：{evt.note}" if evt.note and evt.to_status in ("handled", "cancelled", "closed") else ""
    text = M.STATUS_NOTICE.format(case_number=evt.case_number, label=label, note=note).strip()
    _queue(
        evt.citizen_id,
        evt.report_id,
        "status",
        f"status:{evt.report_id}:{evt.to_status}",
        text,
        {"case_number": evt.case_number, "status": evt.to_status},
    )


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
    openid, text, data = citizen.openid, row.text, _template_data(row)
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
            url = current_app.config["PUBLIC_BASE_URL"] + "/points/"
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
