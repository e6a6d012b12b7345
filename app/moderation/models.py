"""The city's own entries of the screening word list, on top of the shipped starter list."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String
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
