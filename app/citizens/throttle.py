"""Login throttling: failed staff logins counted per (username, client) in Redis, before the password is checked.

The count is taken atomically *before* the password hash is compared, so however many guesses arrive in parallel
(on however many web workers) at most LOGIN_MAX_FAILURES of them are ever checked in one lockout period. The key
is the username as typed (existing or not, so a lockout tells nothing about which usernames exist) together with
the client's address: an attacker locks out only themselves, never the admin at their own desk.
"""

from __future__ import annotations

import hashlib

from flask import current_app

from app.extensions import get_redis


def _key(username: str, client: str) -> str:
    digest = hashlib.sha256(f"{username.strip().casefold()}\0{client}".encode()).hexdigest()
    return f"login-fail:{digest}"


def reserve_attempt(username: str, client: str) -> bool:
    """Count one attempt for (username, client); False when the limit is used up (the password must not be checked).

    SET NX with the lockout period, then INCR, in one MULTI: the counter always expires, and two parallel attempts
    can never read the same count.
    """
    key = _key(username, client)
    pipe = get_redis().pipeline(transaction=True)
    pipe.set(key, 0, ex=current_app.config["LOGIN_LOCKOUT_S"], nx=True)
    pipe.incr(key)
    _, count = pipe.execute()
    return count <= current_app.config["LOGIN_MAX_FAILURES"]


def record_failure(username: str, client: str) -> None:
    """A checked attempt failed: its count stays; the lockout period restarts from the last failure."""
    get_redis().expire(_key(username, client), current_app.config["LOGIN_LOCKOUT_S"])


def clear_failures(username: str, client: str) -> None:
    """A successful login forgets this client's failures for this username."""
    get_redis().delete(_key(username, client))
