"""Points of interest and the QR signs that lead to them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.events import utcnow
from app.extensions import UTCDateTime, db


class Sign(db.Model):
    """A QR sign in the street: its short code is what the QR carries (PUBLIC_BASE_URL/s/<code>)."""

    __tablename__ = "signs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    label: Mapped[str] = mapped_column(String(100))
    lat: Mapped[float] = mapped_column(Float)  # WGS-84
    lng: Mapped[float] = mapped_column(Float)
    raw_lat: Mapped[float] = mapped_column(Float)
    raw_lng: Mapped[float] = mapped_column(Float)
    raw_crs: Mapped[str] = mapped_column(String(8), default="wgs84")
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    note: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    scan_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
