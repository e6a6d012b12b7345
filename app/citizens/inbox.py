"""The staff inbox: who is told of a 督办 step, their console notifications, unread counts, marking read.

Subscriber of StaffAlert (app/events.py). One notification per (staff user, trail entry): a retried or repeated
event has one effect. Staff who bound WeChat also get a StaffNotified event, which app/bot turns into a template
message. Cases belong to app.reports: this package knows them only by id, number and department id.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select, update

from app.citizens.models import StaffNotification, StaffUser
from app.events import StaffNotified, emit, utcnow
from app.extensions import db

TITLES = {
    "deadline_warning": "临期预警：案件 {case_number} 即将到达处置时限",
    "deadline_escalation": "超期督办：案件 {case_number} 已超过处置时限",
    "supervise": "督办：案件 {case_number} 已被列为督办件",
}
PAGE_SIZE = 50


def recipients(department_id: int | None, kind: str) -> list[StaffUser]:
    """Active staff to tell: the department's handlers always; for escalations and 督办 also its head(s), and
    for escalations the supervisors."""
    clauses = []
    if department_id is not None:
        clauses.append((StaffUser.department_id == department_id) & (StaffUser.role == "handler"))
        if kind in ("deadline_escalation", "supervise"):
            clauses.append((StaffUser.department_id == department_id) & StaffUser.department_head.is_(True))
    if kind == "deadline_escalation":
        clauses.append(StaffUser.role == "supervisor")
    if not clauses:
        return []
    return list(db.session.scalars(select(StaffUser).where(StaffUser.active, or_(*clauses)).order_by(StaffUser.id)))


def on_staff_alert(evt) -> None:
    """Subscriber of StaffAlert: an inbox entry for each recipient (once per trail entry), WeChat where bound."""
    title = TITLES.get(evt.kind, "案件 {case_number} 有新的督办信息").format(case_number=evt.case_number)
    body = evt.note or ""
    already = set(
        db.session.scalars(
            select(StaffNotification.staff_id).where(StaffNotification.trail_event_id == evt.trail_event_id)
        )
    )
    for user in recipients(evt.department_id, evt.kind):
        if user.id in already:
            continue
        row = StaffNotification(
            staff_id=user.id,
            report_id=evt.report_id,
            trail_event_id=evt.trail_event_id,
            kind=evt.kind,
            title=title[:200],
            body=body,
            wechat_status="pending" if user.wechat_openid else None,
        )
        db.session.add(row)
        db.session.flush()
        if user.wechat_openid:
            emit(StaffNotified(notification_id=row.id))


@dataclass(frozen=True)
class InboxPage:
    """One page of a staff user's notifications, newest first."""

    items: list[StaffNotification]
    unread: int
    total: int


def unread_count(staff_id: int) -> int:
    """How many of the user's notifications are unread (the header badge)."""
    return db.session.scalar(
        select(func.count())
        .select_from(StaffNotification)
        .where(StaffNotification.staff_id == staff_id, StaffNotification.read_at.is_(None))
    )


def inbox(staff_id: int, unread_only: bool = False, page: int = 1) -> InboxPage:
    """The user's own notifications (never anyone else's)."""
    query = select(StaffNotification).where(StaffNotification.staff_id == staff_id)
    if unread_only:
        query = query.where(StaffNotification.read_at.is_(None))
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    items = db.session.scalars(
        query.order_by(StaffNotification.id.desc()).offset((max(page, 1) - 1) * PAGE_SIZE).limit(PAGE_SIZE)
    ).all()
    return InboxPage(items=list(items), unread=unread_count(staff_id), total=total)


def mark_read(staff_id: int, notification_ids: list[int] | None = None) -> int:
    """Mark the user's notifications read (all of them when no ids are given); another user's ids do nothing."""
    stmt = update(StaffNotification).where(StaffNotification.staff_id == staff_id, StaffNotification.read_at.is_(None))
    if notification_ids is not None:
        stmt = stmt.where(StaffNotification.id.in_(notification_ids))
    changed = db.session.execute(stmt.values(read_at=utcnow()).execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return changed


class WeChatAlreadyBound(ValueError):
    """That WeChat account is bound to another staff user."""


def bind_wechat(staff_id: int, openid: str) -> None:
    """Bind a WeChat openid (from OAuth) to a staff user; one account per openid."""
    other = db.session.scalar(select(StaffUser.id).where(StaffUser.wechat_openid == openid))
    if other is not None and other != staff_id:
        raise WeChatAlreadyBound("这个微信号已绑定到其他工作人员账号")
    user = db.session.get(StaffUser, staff_id)
    user.wechat_openid, user.wechat_bound_at = openid, utcnow()
    db.session.commit()


def unbind_wechat(staff_id: int) -> None:
    """Forget the user's WeChat binding; pending template messages to it are not sent."""
    user = db.session.get(StaffUser, staff_id)
    user.wechat_openid, user.wechat_bound_at = None, None
    db.session.execute(
        update(StaffNotification)
        .where(StaffNotification.staff_id == staff_id, StaffNotification.wechat_status == "pending")
        .values(wechat_status="undelivered", wechat_error="unbound")
    )
    db.session.commit()
