"""Who is asking: staff in the console session, integrating systems by bearer token, citizens in the H5 session.

Routes use the decorators; they never look at the session or headers themselves.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets

from flask import abort, g, jsonify, redirect, request, session, url_for
from sqlalchemy import select

from app.citizens import sessions as staff_sessions
from app.citizens.models import ApiToken, StaffUser
from app.citizens.services import Actor
from app.events import utcnow
from app.extensions import db

# The cookie holds a server-side session id (app.citizens.sessions), never the staff id itself.
STAFF_SESSION_KEY = "staff_sid"
CITIZEN_SESSION_KEY = "citizen_id"


def hash_token(token: str) -> str:
    """SHA-256 of an API token (tokens are 256-bit random, so a plain hash is enough to store them)."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(name: str, role: str = "dispatcher", department_id: int | None = None) -> str:
    """Create a named token and return it (the only time it is shown)."""
    token = "bx_" + secrets.token_urlsafe(32)
    db.session.add(ApiToken(name=name, token_hash=hash_token(token), role=role, department_id=department_id))
    db.session.commit()
    return token


def revoke_api_token(name: str) -> bool:
    """Revoke a token by name; False when there is no such live token."""
    row = db.session.scalar(select(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None)))
    if row is None:
        return False
    row.revoked_at = utcnow()
    db.session.commit()
    return True


def token_actor(header: str | None) -> Actor | None:
    """The actor for an `Authorization: Bearer …` header, or None when absent, unknown or revoked."""
    if not header or not header.startswith("Bearer "):
        return None
    digest = hash_token(header[7:].strip())
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.token_hash, digest):
        return None
    return Actor(kind="api", id=row.id, role=row.role, department_id=row.department_id, name=row.name)


def current_staff() -> StaffUser | None:
    """The logged-in staff user of this request, if any (active accounts only)."""
    if "staff_user" not in g:
        staff_id = staff_sessions.resume_session(session.get(STAFF_SESSION_KEY))
        user = db.session.get(StaffUser, staff_id) if staff_id else None
        g.staff_user = user if user is not None and user.active else None
    return g.staff_user


def login_staff(user: StaffUser) -> None:
    """Start a fresh console session for `user` (a new session defeats fixation)."""
    staff_sessions.end_session(session.get(STAFF_SESSION_KEY))
    session.clear()
    session[STAFF_SESSION_KEY] = staff_sessions.start_session(user.id)
    session.permanent = True


def current_staff_session() -> str | None:
    """The id of this request's console session (to keep it when the user changes their own password)."""
    return session.get(STAFF_SESSION_KEY)


def logout_staff() -> None:
    """End the console session, on the server too: the old cookie opens nothing afterwards."""
    staff_sessions.end_session(session.get(STAFF_SESSION_KEY))
    session.clear()


def staff_required(*roles: str):
    """Console pages: a logged-in staff user (with one of `roles`, when given); else the login page or 403."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            user = current_staff()
            if user is None:
                return redirect(url_for("console.login", next=request.full_path))
            if roles and user.role not in roles and user.role != "admin":
                abort(403)
            g.actor = Actor.for_staff(user)
            return view(*args, **kwargs)

        return wrapper

    return decorator


def api_staff_required(*roles: str):
    """Staff JSON API: a bearer token (or a console session); 401 without, 403 for a role that may not."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            actor = token_actor(request.headers.get("Authorization"))
            if actor is None and current_staff() is not None:
                actor = Actor.for_staff(current_staff())
            if actor is None:
                return jsonify(error="unauthorized", message="需要有效的访问令牌"), 401
            if roles and actor.role not in roles and actor.role != "admin":
                return jsonify(error="forbidden", message="无权执行此操作"), 403
            g.actor = actor
            return view(*args, **kwargs)

        return wrapper

    return decorator


def login_citizen(citizen_id: int) -> None:
    """Remember the citizen (after WeChat OAuth) in the signed session."""
    session[CITIZEN_SESSION_KEY] = citizen_id
    session.permanent = True


def current_citizen_id() -> int | None:
    """The citizen of this H5 session, if signed in through WeChat OAuth."""
    return session.get(CITIZEN_SESSION_KEY)
