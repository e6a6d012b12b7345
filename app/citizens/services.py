"""Use cases for citizens and staff identities: one transaction each."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from app.citizens.models import STAFF_ROLES, Citizen, StaffUser
from app.events import utcnow
from app.extensions import db

LOCKOUT_FAILURES = 5
LOCKOUT_MINUTES = 15


class UnknownRole(ValueError):
    """A staff role that does not exist."""


class UsernameTaken(ValueError):
    """A staff username already in use."""


class LoginRefused(Exception):
    """Wrong username or password, inactive, or locked out (the message never says which for unknown users)."""

    def __init__(self, message: str, locked_until: datetime | None = None):
        super().__init__(message)
        self.message = message
        self.locked_until = locked_until


@dataclass(frozen=True)
class Actor:
    """Who performs an action: a staff user, a citizen, an integrating system or the platform itself."""

    kind: str  # staff | citizen | api | system
    id: int | None = None
    role: str | None = None  # for staff: admin | dispatcher | handler | inspector
    department_id: int | None = None
    name: str = ""

    @classmethod
    def system(cls, name: str = "系统") -> Actor:
        """The platform itself (sweeps, automatic steps)."""
        return cls(kind="system", role="system", name=name)

    @classmethod
    def for_staff(cls, user: StaffUser) -> Actor:
        """The actor for a logged-in staff user."""
        return cls(
            kind="staff",
            id=user.id,
            role=user.role,
            department_id=user.department_id,
            name=user.display_name or user.username,
        )


@dataclass(frozen=True, slots=True)
class CitizenView:
    """What a citizen's row said when a request read it: a plain value, no session behind it (the WeChat webhook
    answers most pushes without an ORM object). Changes go through the use cases below."""

    id: int
    openid: str
    subscribed: bool
    last_message_at: datetime | None
    last_location_lat: float | None
    last_location_lng: float | None
    last_location_crs: str | None
    last_location_at: datetime | None

    @classmethod
    def of(cls, row) -> CitizenView:
        """From a Citizen or any object or mapping with its columns."""
        get = row.get if isinstance(row, dict) else lambda name: getattr(row, name)
        return cls(**{name: get(name) for name in cls.__slots__})


def remember_location(citizen_id: int, lat: float, lng: float, crs: str) -> None:
    """Keep the citizen's latest location (raw, in its coordinate system) for a report that follows."""
    db.session.execute(
        update(Citizen)
        .where(Citizen.id == citizen_id)
        .values(last_location_lat=lat, last_location_lng=lng, last_location_crs=crs, last_location_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def get_or_create_citizen(openid: str, unionid: str | None = None) -> Citizen:
    """The citizen with this openid, created on first contact (safe when two requests race)."""
    citizen = db.session.scalar(select(Citizen).where(Citizen.openid == openid))
    if citizen is None:
        citizen = Citizen(openid=openid, unionid=unionid, subscribed=True, subscribed_at=utcnow())
        db.session.add(citizen)
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            citizen = db.session.scalar(select(Citizen).where(Citizen.openid == openid))
    elif unionid and citizen.unionid != unionid:
        citizen.unionid = unionid
        db.session.commit()
    return citizen


def set_subscribed(openid: str, subscribed: bool) -> Citizen:
    """Record a subscribe or unsubscribe event."""
    citizen = get_or_create_citizen(openid)
    citizen.subscribed = subscribed
    if subscribed:
        citizen.subscribed_at = utcnow()
    else:
        citizen.unsubscribed_at = utcnow()
    db.session.commit()
    return citizen


def create_staff_user(
    username: str, role: str, password: str | None = None, department_id: int | None = None, display_name: str = ""
) -> tuple[StaffUser, str]:
    """Create a staff user; returns the user and the password (generated when none was given)."""
    if role not in STAFF_ROLES:
        raise UnknownRole(f"unknown role {role!r}; one of {', '.join(STAFF_ROLES)}")
    if role == "handler" and department_id is None:
        raise ValueError("a handler must belong to a department")
    password = password or secrets.token_urlsafe(12)
    user = StaffUser(
        username=username,
        role=role,
        department_id=department_id,
        display_name=display_name or username,
        password_hash=generate_password_hash(password),
    )
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise UsernameTaken(f"username {username!r} is taken") from exc
    return user, password


def authenticate(username: str, password: str) -> StaffUser:
    """Check a login; five failures lock the account for fifteen minutes."""
    user = db.session.scalar(select(StaffUser).where(StaffUser.username == username))
    now = utcnow()
    if user is None:
        # Same work and same message as a wrong password, so usernames cannot be probed.
        check_password_hash(generate_password_hash("x"), password)
        raise LoginRefused("用户名或密码错误")
    if user.locked_until and user.locked_until > now:
        raise LoginRefused("登录失败次数过多，账号已暂时锁定，请稍后再试", user.locked_until)
    if not user.active or not check_password_hash(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= LOCKOUT_FAILURES:
            user.locked_until = now + timedelta(minutes=LOCKOUT_MINUTES)
            user.failed_logins = 0
        db.session.commit()
        raise LoginRefused("用户名或密码错误")
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    db.session.commit()
    return user
