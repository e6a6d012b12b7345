"""Read-only in-process caches (spatial indexes, keyword tables) that notice when the data behind them changes.

Each cache has a version counter in Redis. A writer bumps it after committing; every process compares its copy's
version with Redis at most once per INDEX_CHECK_INTERVAL_S and rebuilds when it differs, so all web workers see a
change within seconds without a restart. If Redis is unreachable the last built copy keeps serving.

`invalidate_on_change(Model, name)` makes the bump automatic: any commit that inserted, changed or deleted a row of
that model through the ORM (a service, an admin page, a CLI, qr_generator) bumps the cache after it commits, so no
writer has to remember to. Bulk UPDATE statements bypass it and call `invalidate` themselves when they matter.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from itertools import chain
from typing import Any

from flask import current_app, has_app_context
from redis.exceptions import RedisError
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.extensions import get_redis

log = logging.getLogger(__name__)


class _Entry:
    def __init__(self) -> None:
        self.value: Any = None
        self.version: bytes | None = None
        self.loaded = False
        self.checked_at = 0.0
        self.lock = threading.Lock()


def _key(name: str) -> str:
    return f"cache-version:{name}"


def cached(name: str, loader: Callable[[], Any]) -> Any:
    """The current copy of cache `name`, rebuilt with `loader()` when its version in Redis moved."""
    entries: dict[str, _Entry] = current_app.extensions.setdefault("versioned_caches", {})
    entry = entries.setdefault(name, _Entry())
    interval = current_app.config.get("INDEX_CHECK_INTERVAL_S", 1.0)
    now = time.monotonic()
    if entry.loaded and now - entry.checked_at < interval:
        return entry.value
    with entry.lock:
        if entry.loaded and time.monotonic() - entry.checked_at < interval:
            return entry.value
        try:
            version = get_redis().get(_key(name))
        except RedisError as exc:
            log.warning("cache %s: Redis unreachable, serving the copy we have: %s", name, exc)
            if entry.loaded:
                entry.checked_at = time.monotonic()
                return entry.value
            version = None
        if not entry.loaded or version != entry.version:
            entry.value = loader()
            entry.version = version
            entry.loaded = True
        entry.checked_at = time.monotonic()
        return entry.value


def invalidate(name: str) -> None:
    """Tell every process that cache `name` is stale (call after the commit that changed its data)."""
    try:
        get_redis().incr(_key(name))
    except RedisError as exc:  # the other processes catch up on their next successful check
        log.warning("cache %s: could not bump version: %s", name, exc)
    entries = current_app.extensions.get("versioned_caches", {})
    if name in entries:
        entries[name].loaded = False


_watched: dict[type, str] = {}
_STALE = "stale_caches"


def invalidate_on_change(model: type, name: str) -> None:
    """Bump cache `name` after every commit that inserted, changed or deleted a `model` row through the ORM."""
    _watched[model] = name


@event.listens_for(Session, "after_flush")
def _note_stale_caches(session: Session, flush_context) -> None:
    if not _watched:
        return
    for obj in chain(session.new, session.dirty, session.deleted):
        name = _watched.get(type(obj))
        if name is not None:
            session.info.setdefault(_STALE, set()).add(name)


@event.listens_for(Session, "after_commit")
def _bump_stale_caches(session: Session) -> None:
    names = session.info.pop(_STALE, None)
    if names and has_app_context():
        for name in sorted(names):
            invalidate(name)


@event.listens_for(Session, "after_rollback")
def _forget_stale_caches(session: Session) -> None:
    session.info.pop(_STALE, None)
