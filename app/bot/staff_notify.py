"""Telling staff by WeChat template message: subscriber of StaffNotified, one message per inbox entry.

The job claims the inbox entry's WeChat status (pending/failed → sending) in one UPDATE before any network call, so
retries and duplicate runs send at most once. No template configured: the entry is "undelivered" and stays in the
console inbox, which every staff user has anyway.
"""

from __future__ import annotations

import requests
from flask import current_app
from sqlalchemy import update

from app.bot.after_commit import enqueue_after_commit
from app.bot.client import WeChatClientException, get_client
from app.citizens.models import StaffNotification, StaffUser
from app.extensions import db
from app.jobs import app_job


def on_staff_notified(evt) -> None:
    """Subscriber of StaffNotified: send the template message after this transaction commits."""
    enqueue_after_commit(
        send_staff_wechat, evt.notification_id, queue="notify", job_id=f"wx-staff-{evt.notification_id}"
    )


def _finish(notification_id: int, status: str, error: str | None) -> None:
    db.session.execute(
        update(StaffNotification)
        .where(StaffNotification.id == notification_id)
        .values(wechat_status=status, wechat_error=error)
    )
    db.session.commit()


@app_job
def send_staff_wechat(notification_id: int) -> str:
    """Send one staff notification as a WeChat template message, at most once."""
    claimed = db.session.execute(
        update(StaffNotification)
        .where(StaffNotification.id == notification_id, StaffNotification.wechat_status.in_(("pending", "failed")))
        .values(wechat_status="sending")
    ).rowcount
    db.session.commit()
    if not claimed:
        return "already"
    row = db.session.get(StaffNotification, notification_id)
    user = db.session.get(StaffUser, row.staff_id)
    template_id = current_app.config["WECHAT_STAFF_TEMPLATE_ID"] or current_app.config.get("WECHAT_TEMPLATE_ID")
    openid = user.wechat_openid if user.active else None
    data = {
        "first": {"value": row.title},
        "keyword1": {"value": str(row.report_id or "")},
        "keyword2": {"value": row.kind},
        "remark": {"value": row.body[:180]},
    }
    url = f"{current_app.config['PUBLIC_BASE_URL']}/console/cases/{row.report_id}" if row.report_id else None
    db.session.rollback()  # no transaction open while we wait on WeChat
    if not openid or not template_id:
        _finish(notification_id, "undelivered", "not bound" if not openid else "no template configured")
        return "undelivered"
    try:
        client = get_client()
        client.call(client.message.send_template, openid, template_id, data, url=url)
    except requests.ReadTimeout as exc:
        _finish(notification_id, "undelivered", f"timeout, delivery unknown: {exc}"[:200])  # at most once
        return "undelivered"
    except (WeChatClientException, requests.RequestException) as exc:
        _finish(notification_id, "failed", f"{type(exc).__name__}: {exc}"[:200])
        raise  # rq retries with backoff; the entry can be claimed again
    _finish(notification_id, "sent", None)
    return "sent"
