"""Mini-program subscribe messages (订阅消息) for the steps of a citizen's case: one per trail entry, at most once.

The subscriber writes an OutboundMessage (kind "subscribe", key mp:<report>:<seq>) in the event's transaction and
enqueues the send after commit, like the account's notifications (app/bot/notify.py). WeChat answers 43101 when the
citizen has not consented in the mini-program (or used their consent up): recorded as undelivered, never retried.
"""

from __future__ import annotations

import requests
from flask import current_app
from sqlalchemy import select, update

from app.bot.after_commit import enqueue_after_commit
from app.bot.client import WeChatClientException
from app.bot.miniprogram import mp_client
from app.bot.models import OutboundMessage
from app.citizens.models import Citizen
from app.events import utcnow
from app.extensions import db
from app.jobs import app_job
from app.reports.models import STATUS_LABELS

NOT_CONSENTED = 43101


def on_case_step(evt) -> None:
    """Subscriber of ReportStatusChanged: queue a subscribe message when the reporter uses the mini-program."""
    template_id = current_app.config.get("MP_SUBSCRIBE_TEMPLATE_ID")
    if not evt.citizen_id or not template_id:
        return
    mp_openid = db.session.scalar(select(Citizen.mp_openid).where(Citizen.id == evt.citizen_id))
    if not mp_openid:
        return
    key = f"mp:{evt.report_id}:{evt.seq if evt.seq is not None else evt.to_status}"
    if db.session.scalar(select(OutboundMessage.id).where(OutboundMessage.dedup_key == key)) is not None:
        return
    label = STATUS_LABELS.get(evt.to_status, evt.to_status)
    row = OutboundMessage(dedup_key=key, citizen_id=evt.citizen_id, report_id=evt.report_id, kind="subscribe",
                          text=f"{evt.case_number} {label}",
                          data={"case_number": evt.case_number, "status": evt.to_status, "seq": evt.seq})
    db.session.add(row)
    db.session.flush()
    enqueue_after_commit(send_subscribe_message, row.id, queue="notify", job_id=f"mp-sub-{row.id}")


def _template_data(row: OutboundMessage) -> dict:
    """The template's fields: case number, status (≤5 characters for a phrase field), time."""
    return {
        "character_string1": {"value": row.data.get("case_number", "")},
        "phrase2": {"value": STATUS_LABELS.get(row.data.get("status", ""), "")[:5]},
        "time3": {"value": utcnow().strftime("%Y-%m-%d %H:%M")},
    }


@app_job
def send_subscribe_message(outbound_id: int) -> str:
    """Send one subscribe message, claimed by a conditional UPDATE first so no two runs send it."""
    claimed = db.session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id == outbound_id, OutboundMessage.status.in_(("pending", "failed")))
        .values(status="sending", attempts=OutboundMessage.attempts + 1)
    ).rowcount
    db.session.commit()
    if not claimed:
        return "already"
    row = db.session.get(OutboundMessage, outbound_id)
    mp_openid = db.session.scalar(select(Citizen.mp_openid).where(Citizen.id == row.citizen_id))
    cfg = current_app.config
    page = cfg["MP_SUBSCRIBE_PAGE"].format(case_number=row.data.get("case_number", ""))
    data = _template_data(row)
    db.session.rollback()  # no transaction open while we wait on WeChat
    status, error = "sent", None
    try:
        client = mp_client()
        client.call(client.wxa.send_subscribe_message, mp_openid, cfg["MP_SUBSCRIBE_TEMPLATE_ID"], data, page=page)
    except WeChatClientException as exc:
        if exc.errcode != NOT_CONSENTED:
            _finish(outbound_id, "failed", f"{exc.errcode}: {exc.errmsg}"[:200])
            raise  # rq retries with backoff
        status, error = "undelivered", "43101: the citizen has not consented (or used the consent up)"
    except requests.ReadTimeout as exc:
        status, error = "undelivered", f"timeout, delivery unknown: {exc}"[:200]  # at most once
    except requests.RequestException as exc:
        _finish(outbound_id, "failed", f"{type(exc).__name__}: {exc}"[:200])
        raise
    _finish(outbound_id, status, error)
    return status


def _finish(outbound_id: int, status: str, error: str | None) -> None:
    db.session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id == outbound_id)
        .values(status=status, channel="subscribe", error=error, sent_at=utcnow() if status == "sent" else None)
    )
    db.session.commit()
