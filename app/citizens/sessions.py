"""Staff console sessions kept on the server (Redis), so that logout, expiry and revocation really end them.

The signed Flask cookie carries only a random session id; Redis keeps `staff-session:<sha256(id)>` as a hash
{staff_id, created, last_seen} (epoch seconds). A session ends at logout, after STAFF_SESSION_IDLE_S without a
request, at STAFF_SESSION_MAX_AGE_S after login however busy, and when its user's password or role changes.
A Redis restart without persistence logs staff out, which is safe.
"""

from __future__ import annotations

import hashlib
import secrets
import time

from flask import current_app

from app.extensions import get_redis

# last_seen is written at most this often, so most console requests cost one Redis round trip.
TOUCH_EVERY_S = 60


def _key(session_id: str) -> str:
    return "staff-session:" + hashlib.sha256(session_id.encode()).hexdigest()


def _index(staff_id: int) -> str:
    return f"staff-sessions-of:{staff_id}"


def start_session(staff_id: int) -> str:
    """A new session for this staff user; returns its id (for the signed cookie)."""
    cfg = current_app.config
    session_id = secrets.token_urlsafe(32)
    now = time.time()
    key = _key(session_id)
    pipe = get_redis().pipeline(transaction=True)
    pipe.hset(key, mapping={"staff_id": staff_id, "created": now, "last_seen": now})
    pipe.expire(key, cfg["STAFF_SESSION_IDLE_S"])
    pipe.sadd(_index(staff_id), key)
    pipe.expire(_index(staff_id), cfg["STAFF_SESSION_MAX_AGE_S"])
    pipe.execute()
    return session_id


def resume_session(session_id: str | None) -> int | None:
    """The staff id of a live session, or None (unknown, logged out, idle too long, too old)."""
    if not session_id:
        return None
    cfg = current_app.config
    key = _key(session_id)
    r = get_redis()
    data = r.hgetall(key)
    if not data:
        return None
    now = time.time()
    created, last_seen = float(data[b"created"]), float(data[b"last_seen"])
    staff_id = int(data[b"staff_id"])
    if now - last_seen > cfg["STAFF_SESSION_IDLE_S"] or now - created > cfg["STAFF_SESSION_MAX_AGE_S"]:
        _end(r, key, staff_id)
        return None
    if now - last_seen >= TOUCH_EVERY_S:
        pipe = r.pipeline(transaction=False)
        pipe.hset(key, "last_seen", now)
        pipe.expire(key, cfg["STAFF_SESSION_IDLE_S"])
        pipe.execute()
    return staff_id


def end_session(session_id: str | None) -> None:
    """Logout: this session opens nothing any more."""
    if not session_id:
        return
    r = get_redis()
    key = _key(session_id)
    staff_id = r.hget(key, "staff_id")
    _end(r, key, int(staff_id) if staff_id is not None else None)


def end_sessions_of(staff_id: int, keep: str | None = None) -> int:
    """End every session of a staff user (but `keep`, the one making the change); returns how many ended."""
    r = get_redis()
    kept = _key(keep) if keep else None
    keys = [k.decode() for k in r.smembers(_index(staff_id))]
    doomed = [k for k in keys if k != kept]
    if doomed:
        pipe = r.pipeline(transaction=True)
        pipe.delete(*doomed)
        pipe.srem(_index(staff_id), *doomed)
        pipe.execute()
    return len(doomed)


def _end(r, key: str, staff_id: int | None) -> None:
    pipe = r.pipeline(transaction=True)
    pipe.delete(key)
    if staff_id is not None:
        pipe.srem(_index(staff_id), key)
    pipe.execute()
