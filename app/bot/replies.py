"""The reply store: the answer to each push kept for WeChat's retries (Redis) and on its inbound row (batched).

With rq workers the request puts the answer in Redis (`bot:reply:<key>` for the retries, and a queue of row updates)
in its last round trip, and `flush_replies` writes up to a thousand rows in one statement, enqueued at most once per
BOT_REPLY_FLUSH_INTERVAL_S (and from cron). That takes a second database transaction off every push. Failures,
throttled pushes, Redis outages and the inline jobs mode (no workers) write the row at once (`store_reply`).
"""

from __future__ import annotations

import json
import time
from datetime import datetime

from redis.exceptions import RedisError
from sqlalchemy import bindparam, select, text, update

from app.bot.models import InboundMessage
from app.events import utcnow
from app.extensions import db, get_redis

REPLY_TTL_S = 3600
PENDING_REPLIES = "bot:replies:pending"  # JSON [row_id, reply, handled_at] waiting to be written to their rows
REPLY_FLUSH_DUE = "bot:replies:flush-scheduled"  # set for one interval after a flush job was enqueued
REPLY_FLUSH_BATCH = 1000
RETRY_WAIT_S = 4.0  # WeChat gives each try 5 seconds


def reply_key(dedup_key: str) -> str:
    """The Redis key of a push's answer (for WeChat's retries)."""
    return f"bot:reply:{dedup_key}"


def flush_replies() -> int:
    """Write the replies queued in Redis to their inbound rows (one executemany, one commit); how many.

    Taken with LPOP in batches; if the commit fails they are put back, so a reply is written at least once (and
    writing it twice is harmless).
    """
    r = get_redis()
    done = 0
    while True:
        raw = r.lpop(PENDING_REPLIES, REPLY_FLUSH_BATCH)
        if not raw:
            return done
        rows = []
        for item in raw:
            row_id, reply, at = json.loads(item)
            rows.append({"row_id": row_id, "reply": reply, "handled_at": datetime.fromisoformat(at)})
        try:
            table = InboundMessage.__table__
            db.session.execute(
                update(table).where(table.c.id == bindparam("row_id"))
                .values(reply=bindparam("reply"), handled_at=bindparam("handled_at")),
                rows,
            )
            db.session.commit()
        except Exception:
            db.session.rollback()
            r.rpush(PENDING_REPLIES, *raw)
            raise
        done += len(rows)


def store_reply(row_id: int, reply: str, error: str | None) -> None:
    """Keep the answer on the row. Its durable copy for retries is in Redis already, so on PostgreSQL this commit
    need not wait for the disk (synchronous_commit off: a crash could lose the audit copy, never the message)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL synchronous_commit TO OFF"))
    db.session.execute(
        update(InboundMessage)
        .where(InboundMessage.id == row_id)
        .values(reply=reply, handled_at=utcnow(), error=error)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def wait_for_reply(dedup_key: str, wait_s: float = RETRY_WAIT_S) -> str:
    """A retry: the first try is acting (or has acted); return its answer once it is there."""
    r = get_redis()
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            stored = r.get(reply_key(dedup_key))
        except RedisError:  # Redis is away: the row has the answer once the first try stored it
            stored = db.session.scalar(select(InboundMessage.reply).where(InboundMessage.dedup_key == dedup_key))
            db.session.rollback()
            stored = stored.encode() if stored is not None else None
        if stored is not None:
            return stored.decode()
        time.sleep(0.05)
    reply = db.session.scalar(select(InboundMessage.reply).where(InboundMessage.dedup_key == dedup_key))
    db.session.rollback()
    return reply or ""
