"""The city's own entries of the screening word list, on top of the shipped starter list."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.events import utcnow
from app.extensions import UTCDateTime, db


class ScreenWord(db.Model):
    """A word the city adds to the screening list (active) or takes off it (inactive, for a starter word)."""

    __tablename__ = "screen_words"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    word: Mapped[str] = mapped_column(String(64), unique=True)
    reason: Mapped[str] = mapped_column(String(16), default="abuse")  # abuse | threat | ad | other
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CitizenSanction(db.Model):
    """A citizen's reports paused (mute) or the citizen banned for a period, with the reason; lifted by unmute.

    While a mute is in force the citizen's messages are still recorded but nothing is filed; a ban also freezes
    their points. Staff and the bot never show citizens who decided it.
    """

    __tablename__ = "citizen_sanctions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # mute | ban
    reason: Mapped[str] = mapped_column(String(200))
    until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: until lifted
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lifted_by: Mapped[str | None] = mapped_column(String(64))
