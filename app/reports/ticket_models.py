"""Ticket intake tables: sources (a 12345 platform, a sensor network), their tickets and the status callbacks.

Imported by app.reports.models so the metadata is complete; cases are linked by table name (no import cycle).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.events import utcnow
from app.extensions import UTCDateTime, db


class TicketSource(db.Model):
    """A system that pushes tickets (`12345`, `iot`), with the callback URL and shared secret it registered."""

    __tablename__ = "ticket_sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    callback_url: Mapped[str | None] = mapped_column(String(300))
    callback_secret: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Ticket(db.Model):
    """An external ticket and the case it became; (source, external_id) is unique: a retried push finds it."""

    __tablename__ = "tickets"
    __table_args__ = (UniqueConstraint("source", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(100))
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), unique=True)
    # The caller or sender (phone, name): private, staff side only, never on a public surface or in Open311.
    contact: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the source's own deadline, if it gave one
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TicketCallback(db.Model):
    """One status callback of a ticket, for one step of its case's trail; delivered in trail order."""

    __tablename__ = "ticket_callbacks"
    __table_args__ = (UniqueConstraint("ticket_id", "trail_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    trail_seq: Mapped[int] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    # While pending after a failure: not tried again before this (the periodic sweep re-enqueues due deliveries).
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class HotlineCaller(db.Model):
    """Who called the hotline about a case (phone, name): private, staff side only."""

    __tablename__ = "hotline_callers"

    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), primary_key=True)
    phone: Mapped[str] = mapped_column(String(32), default="")
    name: Mapped[str] = mapped_column(String(64), default="")
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
