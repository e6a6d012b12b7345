"""The mini-program's session tokens: short-lived, signed with SECRET_KEY, and revocable through Redis.

A token is `itsdangerous`-signed {"c": citizen id, "s": session id} with a timestamp; it is valid while the signature
holds, it is younger than MP_TOKEN_TTL_S, and Redis still has `mp:session:<sid>` naming the same citizen (deleting
the key ends the session at once). WeChat's session_key is never part of it.
"""

from __future__ import annotations

import secrets

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer

from app.extensions import get_redis

SALT = "mp-session-v1"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def _key(sid: str) -> str:
    return f"mp:session:{sid}"


def issue_token(citizen_id: int) -> tuple[str, int]:
    """A new session for the citizen: (token, seconds it lives)."""
    ttl = current_app.config["MP_TOKEN_TTL_S"]
    sid = secrets.token_urlsafe(16)
    get_redis().set(_key(sid), str(citizen_id), ex=ttl)
    return _serializer().dumps({"c": citizen_id, "s": sid}), ttl


def citizen_of(token: str | None) -> int | None:
    """The citizen a token belongs to, or None when it is missing, forged, expired or revoked."""
    if not token or len(token) > 512:
        return None
    try:
        data = _serializer().loads(token, max_age=current_app.config["MP_TOKEN_TTL_S"])
    except BadSignature:  # SignatureExpired is a BadSignature
        return None
    if not isinstance(data, dict) or not isinstance(data.get("c"), int) or not isinstance(data.get("s"), str):
        return None
    kept = get_redis().get(_key(data["s"]))
    return data["c"] if kept is not None and kept.decode() == str(data["c"]) else None


def revoke(token: str) -> bool:
    """End the session of a (still signed) token."""
    try:
        data = _serializer().loads(token)
    except BadSignature:
        return False
    return bool(get_redis().delete(_key(data.get("s", ""))))
