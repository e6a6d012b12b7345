"""Moderation use cases on people: mute or ban a citizen for a period with a reason, and lift it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, select

from app.citizens.models import Citizen
from app.events import utcnow
from app.extensions import db
from app.moderation.models import CitizenSanction

KINDS = {"mute": "暂停举报", "ban": "封禁"}


class ModerationError(Exception):
    """A moderation request we cannot carry out (the message says why)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _citizen(openid: str) -> Citizen:
    citizen = db.session.scalar(select(Citizen).where(Citizen.openid == openid))
    if citizen is None:
        raise ModerationError(f"没有这个市民：{openid}")
    return citizen


def active_sanction(citizen_id: int | None, kinds: tuple[str, ...] = ("mute", "ban")) -> CitizenSanction | None:
    """The sanction of one of `kinds` in force for this citizen now, if any (a ban also pauses reports)."""
    if citizen_id is None:
        return None
    now = utcnow()
    return db.session.scalar(
        select(CitizenSanction)
        .where(
            CitizenSanction.citizen_id == citizen_id,
            CitizenSanction.kind.in_(kinds),
            CitizenSanction.lifted_at.is_(None),
            or_(CitizenSanction.until.is_(None), CitizenSanction.until > now),
        )
        .order_by(CitizenSanction.id.desc())
        .limit(1)
    )


def sanction_citizen(
    openid: str, kind: str, reason: str, days: int | None, by: str, citizen_id: int | None = None
) -> CitizenSanction:
    """Mute or ban a citizen (by openid, or by id from a case in the console) for `days` (None: until lifted)."""
    if kind not in KINDS:
        raise ModerationError(f"未知处理方式 {kind!r}")
    reason = (reason or "").strip()
    if not reason:
        raise ModerationError("请写明原因")
    if days is not None and not 1 <= days <= 3650:
        raise ModerationError("天数应在 1 到 3650 之间")
    cid = citizen_id if citizen_id is not None else _citizen(openid).id
    row = CitizenSanction(
        citizen_id=cid,
        kind=kind,
        reason=reason[:200],
        until=utcnow() + timedelta(days=days) if days else None,
        created_by=by[:64],
    )
    db.session.add(row)
    db.session.commit()
    return row


def lift_sanctions(openid: str, by: str, citizen_id: int | None = None) -> int:
    """Lift every sanction in force for the citizen; returns how many were lifted."""
    cid = citizen_id if citizen_id is not None else _citizen(openid).id
    rows = db.session.scalars(
        select(CitizenSanction).where(CitizenSanction.citizen_id == cid, CitizenSanction.lifted_at.is_(None))
    ).all()
    now = utcnow()
    for row in rows:
        row.lifted_at, row.lifted_by = now, by[:64]
    db.session.commit()
    return len(rows)
