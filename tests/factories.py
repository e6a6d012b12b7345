"""Factories for test records, built through the real use cases."""

from __future__ import annotations

import contextlib
import io
import itertools

from PIL import Image
from sqlalchemy import event, select

from app.citizens.services import Actor, get_or_create_citizen
from app.extensions import db
from app.reports.models import Department
from app.reports.services import Submission, submit_report

GUANYINQIAO = (29.5752, 106.5318)  # WGS-84, inside the demo grid's 观音桥街道
_seq = itertools.count(1)


def citizen(openid: str | None = None):
    """A citizen with a unique openid."""
    return get_or_create_citizen(openid or f"oTestCitizen{next(_seq):06d}")


def report(description: str = "路口有人摆摊卖水果", lat: float = GUANYINQIAO[0], lng: float = GUANYINQIAO[1], **kw):
    """A submitted case (channel wechat, WGS-84 unless crs is given)."""
    kw.setdefault("channel", "wechat")
    if "citizen_id" not in kw:
        kw["citizen_id"] = citizen().id
    return submit_report(Submission(lat=lat, lng=lng, description=description, **kw))


def department_id(code: str) -> int:
    """The id of a seeded department."""
    return db.session.scalar(select(Department.id).where(Department.code == code))


def actor(role: str, department: str | None = None, name: str | None = None) -> Actor:
    """A staff actor with a role (and department for handlers)."""
    dept = department_id(department) if department else None
    return Actor(kind="staff", id=hash(role) % 1000, role=role, department_id=dept, name=name or role)


def jpeg_bytes(size=(640, 480), color=(200, 30, 30), exif: bytes | None = None) -> bytes:
    """A real JPEG, optionally with an EXIF block."""
    buf = io.BytesIO()
    img = Image.new("RGB", size, color)
    if exif is not None:
        img.save(buf, "JPEG", exif=exif)
    else:
        img.save(buf, "JPEG")
    return buf.getvalue()


def png_bytes(size=(64, 64), mode="RGBA") -> bytes:
    """A real PNG."""
    buf = io.BytesIO()
    Image.new(mode, size).save(buf, "PNG")
    return buf.getvalue()


@contextlib.contextmanager
def statements(containing: str = ""):
    """The SQL statements the app's engine sends meanwhile (those that contain `containing`), as a list."""
    seen: list[str] = []

    def record(conn, cursor, statement, *args):
        if containing in statement:
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
