"""The mini-program's citizens: one person, one citizen row, whether they came through the account or the app.

WeChat gives the same person a different openid in the official account and in the mini-program; only the unionid
(when both are bound to one Open Platform account) says they are one person. The mini-program openid is kept beside
the account's on the same row, so cases and points are one person's.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.citizens.models import Citizen
from app.extensions import db

log = logging.getLogger(__name__)


def _find(mp_openid: str, unionid: str | None) -> Citizen | None:
    citizen = db.session.scalar(select(Citizen).where(Citizen.mp_openid == mp_openid))
    if citizen is not None or not unionid:
        return citizen
    # The account's citizen of the same person, not yet linked to a mini-program openid.
    return db.session.scalar(
        select(Citizen).where(Citizen.unionid == unionid, Citizen.mp_openid.is_(None)).order_by(Citizen.id).limit(1)
    )


def citizen_for_miniprogram(mp_openid: str, unionid: str | None = None) -> int:
    """The id of the citizen with this mini-program openid, linked by unionid or created (safe under races)."""
    citizen = _find(mp_openid, unionid)
    if citizen is None:
        citizen = Citizen(openid=None, mp_openid=mp_openid, unionid=unionid, subscribed=False)
        db.session.add(citizen)
    else:
        if citizen.mp_openid is None:
            citizen.mp_openid = mp_openid
        if unionid and citizen.unionid != unionid:
            if citizen.unionid:
                log.warning("citizen %s: the mini-program's unionid differs from the account's", citizen.id)
            else:
                citizen.unionid = unionid
    try:
        db.session.commit()
    except IntegrityError:  # a parallel login of the same person created or linked the row first
        db.session.rollback()
        return db.session.scalar(select(Citizen.id).where(Citizen.mp_openid == mp_openid))
    return citizen.id
