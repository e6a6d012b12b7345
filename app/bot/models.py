"""What the bot keeps: every inbound message (recorded before it is acted on) and every outbound notification."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from app.bot import after_commit  # noqa: F401 (registers its session listeners at app creation)
from app.events import utcnow
from app.extensions import UTCDateTime, db


class InboundMessage(db.Model):
    """One push from WeChat. `dedup_key` is unique: WeChat's retries of the same message find the first row."""

    __tablename__ = "bot_inbound_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # MsgId for messages; openid + CreateTime + event for events (they have no MsgId).
    dedup_key: Mapped[str] = mapped_column(String(140), unique=True)
    citizen_id: Mapped[int | None] = mapped_column(ForeignKey("citizens.id"), index=True)
    openid: Mapped[str] = mapped_column(String(64))
    msg_type: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    msg_id: Mapped[str | None] = mapped_column(String(32))
    created_at_wechat: Mapped[int] = mapped_column(Integer, default=0)  # CreateTime, epoch seconds
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reply: Mapped[str | None] = mapped_column(Text)  # what we answered (the same answer for every retry)
    error: Mapped[str | None] = mapped_column(String(200))
    # Over the per-openid rate limit: recorded and answered, not acted on.
    throttled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class OutboundMessage(db.Model):
    """A notification to a citizen. `dedup_key` (e.g. status:<report>:<status>) makes it at most one per cause."""

    __tablename__ = "bot_outbound_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(140), unique=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"), index=True)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))  # status | points
    text: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # pending -> sending -> sent | undelivered ; failed (after errors) may be claimed again by a retry
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    channel: Mapped[str | None] = mapped_column(String(16))  # custom | template
    error: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
