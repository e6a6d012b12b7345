"""Citizen and staff identity models."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from app.events import utcnow
from app.extensions import UTCDateTime, db

# supervisor: 督办 and the assessment; operator: the hotline form; moderator: what the public sees (docs/console.md).
STAFF_ROLES = ("admin", "dispatcher", "handler", "inspector", "supervisor", "operator", "moderator")


class Citizen(db.Model):
    """A person: known by their official-account openid, their mini-program openid, or both (linked by unionid).

    A citizen who has only used the mini-program has no official-account openid (None): nothing can be sent to them
    through the account, only mini-program subscribe messages.
    """

    __tablename__ = "citizens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    openid: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The same person has another openid in the mini-program; the unionid (when WeChat gives one) joins the two.
    mp_openid: Mapped[str | None] = mapped_column(String(64), unique=True)
    unionid: Mapped[str | None] = mapped_column(String(64), index=True)
    nickname: Mapped[str | None] = mapped_column(String(64))
    subscribed: Mapped[bool] = mapped_column(Boolean, default=True)
    subscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The customer-service window: WeChat lets us message a citizen for 48 hours after their last message.
    last_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_location_lat: Mapped[float | None] = mapped_column(Float)
    last_location_lng: Mapped[float | None] = mapped_column(Float)
    last_location_crs: Mapped[str | None] = mapped_column(String(8))
    last_location_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StaffUser(db.Model):
    """A staff member of the platform: admin, dispatcher (受理/派遣), handler (of a department) or inspector (核查)."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64), default="")
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    # Departments belong to app.reports; the link is by table name so this package does not import it.
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The head (负责人) of their department: escalations and 督办 reach them as well as the handlers.
    department_head: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Bound from the console by WeChat OAuth: notifications also go out as template messages (app/bot).
    wechat_openid: Mapped[str | None] = mapped_column(String(64), unique=True)
    wechat_bound_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StaffNotification(db.Model):
    """One entry of a staff user's console inbox; (staff, trail entry) is unique, so a cause notifies once."""

    __tablename__ = "staff_notifications"
    __table_args__ = (UniqueConstraint("staff_id", "trail_event_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    # Cases and their trail belong to app.reports; linked by table name.
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"), index=True)
    trail_event_id: Mapped[int | None] = mapped_column(ForeignKey("report_events.id"))
    kind: Mapped[str] = mapped_column(String(24))  # deadline_warning | deadline_escalation | supervise
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The WeChat template message (only for staff who bound WeChat): pending -> sending -> sent | undelivered | failed
    wechat_status: Mapped[str | None] = mapped_column(String(16))
    wechat_error: Mapped[str | None] = mapped_column(String(200))


class ApiToken(db.Model):
    """A bearer token for an integrating system (the city's 运管服 platform); only its hash is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16), default="dispatcher")
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
