"""Points of interest and the QR signs that lead to them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String
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


class PoiCategory(db.Model):
    """A kind of convenience point (公厕, 停车场, ...): data, so admins can add more."""

    __tablename__ = "poi_categories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(32))
    icon: Mapped[str] = mapped_column(String(16), default="")
    sort: Mapped[int] = mapped_column(Integer, default=100)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Poi(db.Model):
    """A convenience point: where it is (WGS-84, plus the coordinates as delivered), when it is open, what it offers."""

    __tablename__ = "pois"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    category_id: Mapped[int] = mapped_column(ForeignKey("poi_categories.id"), index=True)
    lat: Mapped[float] = mapped_column(Float)  # WGS-84
    lng: Mapped[float] = mapped_column(Float)
    raw_lat: Mapped[float] = mapped_column(Float)
    raw_lng: Mapped[float] = mapped_column(Float)
    raw_crs: Mapped[str] = mapped_column(String(8), default="wgs84")
    address: Mapped[str | None] = mapped_column(String(200))
    opening_hours: Mapped[str | None] = mapped_column(String(100))  # as published: 「24小时」, 「06:00-22:00」
    # [[start_min, end_min], ...] in local time, see hours.py
    opening_hours_parsed: Mapped[list | None] = mapped_column(JSON(none_as_null=True))
    accessible: Mapped[bool] = mapped_column(Boolean, default=False)
    baby_room: Mapped[bool] = mapped_column(Boolean, default=False)
    fee: Mapped[str | None] = mapped_column(String(32))
    spaces: Mapped[int | None] = mapped_column(Integer)
    phone: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(32), default="import")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
