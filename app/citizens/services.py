"""Use cases for citizens and staff identities: one transaction each."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from app.citizens import sessions as staff_sessions
from app.citizens import throttle
from app.citizens.models import STAFF_ROLES, Citizen, StaffUser
from app.events import utcnow
from app.extensions import db


class UnknownRole(ValueError):
    """A staff role that does not exist."""


class UsernameTaken(ValueError):
    """A staff username already in use."""


class LoginRefused(Exception):
    """Wrong username or password, inactive, or paused after failures (the message never says which user exists)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


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


LOCKED_MESSAGE = "登录失败次数过多，请 {minutes} 分钟后再试"
WRONG_MESSAGE = "用户名或密码错误"
MIN_PASSWORD_CHARS = 10

# Compared for unknown users, so they cost the same one KDF run as a wrong password (made with werkzeug's default,
# scrypt n=32768, as create_staff_user's hashes are). The password behind it was random and thrown away.
UNKNOWN_USER_HASH = (
    "scrypt:32768:8:1$SXPxuBbHwhctqwCv$ea64179f5cd7cbb962f5b5f976538c209b6fad155c78059e5ec0fb3d3f8bb38b"
    "a193f267ebd25840686225afbe2dda1b70458a03c32c91c8f89bd0c1e6bd8e12"
)


def authenticate(username: str, password: str, client: str) -> StaffUser:
    """Check a login from `client` (its address); LOGIN_MAX_FAILURES failures pause that client for that username.

    The attempt is counted before the password is compared (app.citizens.throttle), so parallel guesses cannot
    outrun the limit. Unknown users, inactive users and wrong passwords cost one hash comparison each and get the
    same message; the pause applies to any username, existing or not.
    """
    if not throttle.reserve_attempt(username, client):
        minutes = max(1, current_app.config["LOGIN_LOCKOUT_S"] // 60)
        raise LoginRefused(LOCKED_MESSAGE.format(minutes=minutes))
    user = db.session.scalar(select(StaffUser).where(StaffUser.username == username))
    matches = check_password_hash(user.password_hash if user is not None else UNKNOWN_USER_HASH, password)
    if user is None or not user.active or not matches:
        db.session.rollback()
        throttle.record_failure(username, client)
        raise LoginRefused(WRONG_MESSAGE)
    throttle.clear_failures(username, client)
    user.last_login_at = utcnow()
    db.session.commit()
    return user


class WeakPassword(ValueError):
    """A new password that is too short."""


def change_password(staff_id: int, new_password: str, keep_session: str | None = None) -> None:
    """Set a staff user's password and end their other sessions (all of them when `keep_session` is None)."""
    if len(new_password) < MIN_PASSWORD_CHARS:
        raise WeakPassword(f"密码至少需要 {MIN_PASSWORD_CHARS} 个字符")
    user = db.session.get(StaffUser, staff_id)
    if user is None:
        raise LookupError(f"no staff user {staff_id}")
    user.password_hash = generate_password_hash(new_password)
    db.session.commit()
    staff_sessions.end_sessions_of(staff_id, keep=keep_session)


def change_role(staff_id: int, role: str, department_id: int | None = None) -> bool:
    """Give a staff user another role (and department); their sessions end when anything changed. True if it did."""
    if role not in STAFF_ROLES:
        raise UnknownRole(f"unknown role {role!r}; one of {', '.join(STAFF_ROLES)}")
    if role == "handler" and department_id is None:
        raise ValueError("a handler must belong to a department")
    user = db.session.get(StaffUser, staff_id)
    if user is None:
        raise LookupError(f"no staff user {staff_id}")
    changed = (user.role, user.department_id) != (role, department_id)
    user.role, user.department_id = role, department_id
    db.session.commit()
    if changed:
        staff_sessions.end_sessions_of(staff_id)
    return changed
