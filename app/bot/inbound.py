"""One push, one effect: record it, deduplicate WeChat's retries, dispatch, and keep the answer for the retries.

The inbound row is committed before anything is acted on (nothing is lost), and its unique dedup_key decides which
of several concurrent tries acts: the others wait briefly for the stored answer and return the same one.

The answer's copy on the row (reply, handled_at) is written in batches with rq workers: the request puts it in Redis
(`bot:reply:<key>` for the retries, and a queue of row updates) in one round trip, and `flush_replies` writes up to a
thousand rows in one statement, enqueued at most once per BOT_REPLY_FLUSH_INTERVAL_S (and from cron). That takes a
second database transaction off every push. Failures, throttled pushes, Redis outages and the inline jobs mode
(no workers) still write the row at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from datetime import datetime, timedelta

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from app.bot import messages as M
from app.bot.dialogue import citizen_lock
from app.bot.handlers import changes_draft, dispatch
from app.bot.models import InboundMessage
from app.bot.protocol import Message
from app.citizens.services import get_or_create_citizen
from app.events import utcnow
from app.extensions import db, get_redis
from app.jobs import enqueue

log = logging.getLogger(__name__)

REPLY_TTL_S = 3600
PENDING_REPLIES = "bot:replies:pending"  # JSON [row_id, reply, handled_at] waiting to be written to their rows
REPLY_FLUSH_DUE = "bot:replies:flush-scheduled"  # set for one interval after a flush job was enqueued
REPLY_FLUSH_BATCH = 1000
# Pushes WeChat sends by itself or that must always take effect: never throttled.
UNTHROTTLED_EVENTS = {"subscribe", "unsubscribe", "location"}  # msg.event is lower case
WINDOW_SLACK = timedelta(minutes=1)
RETRY_WAIT_S = 4.0  # WeChat gives each try 5 seconds


def _reply_key(dedup_key: str) -> str:
    return f"bot:reply:{dedup_key}"


def _payload(msg: Message) -> dict:
    keep = {k: v[:2000] for k, v in msg.fields.items() if k not in ("ToUserName", "FromUserName", "Encrypt")}
    return keep


def handle_push(msg: Message) -> str:
    """The reply text for a push ("" when there is nothing to say)."""
    citizen = get_or_create_citizen(msg.source)
    record = insert(InboundMessage.__table__).values(
        dedup_key=msg.dedup_key,
        citizen_id=citizen.id,
        openid=msg.source,
        msg_type=(msg.event and f"event:{msg.event}") or msg.type,
        payload=_payload(msg),
        msg_id=msg.msg_id,
        created_at_wechat=msg.create_time,
    ).returning(InboundMessage.__table__.c.id)
    now = utcnow()
    if msg.event != "unsubscribe" and (citizen.last_message_at is None or now - citizen.last_message_at > WINDOW_SLACK):
        citizen.last_message_at = now  # opens WeChat's 48-hour customer-service window (a minute's slack)
    session = db.session()
    try:
        # A Core INSERT … RETURNING (not the unit of work): the row is the hot path's one write.
        row_id = db.session.execute(record).scalar_one()
        # Keep the citizen as just written instead of reloading it after the commit (saves two round trips).
        session.expire_on_commit = False
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        row_id = _reclaim_failed(msg.dedup_key)
        if row_id is None:
            return wait_for_reply(msg.dedup_key)
        # The first try failed (Redis or the database was away): WeChat's retry acts again instead of
        # repeating the apology, so a transient fault heals itself.
        citizen = get_or_create_citizen(msg.source)
    finally:
        session.expire_on_commit = True
    if _over_rate_limit(msg):  # counted once per message: WeChat's retries took the branch above
        return _throttle(msg, row_id)
    return _act(msg, citizen, row_id)


def _over_rate_limit(msg: Message) -> bool:
    """Whether this openid sent more than BOT_RATE_LIMIT messages in the current window (one Redis round trip).

    A fixed window per openid (INCR + EXPIRE in one pipeline). If Redis is away the message is let through.
    """
    limit = current_app.config.get("BOT_RATE_LIMIT", 0)
    if limit <= 0 or msg.event in UNTHROTTLED_EVENTS:
        return False
    window = max(1, int(current_app.config.get("BOT_RATE_WINDOW_S", 60)))
    key = f"bot:rate:{msg.source}:{int(time.time()) // window}"
    try:
        pipe = get_redis().pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, window + 5)
        count = pipe.execute()[0]
    except RedisError as exc:
        log.warning("bot: rate limit not checked for %s: %s", msg.source, exc)
        return False
    return count > limit


def _throttle(msg: Message, row_id: int) -> str:
    """Answer a message over the rate limit without acting on it; the row says so (throttled)."""
    log.warning("bot: %s is over the rate limit; %s recorded, not acted on", msg.source, msg.dedup_key)
    with contextlib.suppress(RedisError):
        get_redis().set(_reply_key(msg.dedup_key), M.TOO_FAST, ex=REPLY_TTL_S)
    try:
        db.session.execute(
            update(InboundMessage)
            .where(InboundMessage.id == row_id)
            .values(reply=M.TOO_FAST, handled_at=utcnow(), throttled=True)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
    except SQLAlchemyError as exc:
        db.session.rollback()
        log.warning("bot: could not mark %s throttled: %s", msg.dedup_key, exc)
    return M.TOO_FAST


def _reclaim_failed(dedup_key: str) -> int | None:
    """Claim a recorded push whose handling failed, for exactly one retry at a time; None when there is none."""
    row_id = db.session.execute(
        update(InboundMessage)
        .where(InboundMessage.dedup_key == dedup_key, InboundMessage.error.isnot(None))
        .values(error=None, handled_at=None, reply=None)
        .returning(InboundMessage.id)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    db.session.commit()
    if row_id is not None:
        with contextlib.suppress(RedisError):  # a stale apology in Redis is overwritten by _act
            get_redis().delete(_reply_key(dedup_key))
    return row_id


def _act(msg: Message, citizen, row_id: int) -> str:
    """Dispatch a recorded push and keep its answer (on the row and in Redis for the retries)."""
    r = get_redis()
    error = None
    try:
        if changes_draft(msg):
            with citizen_lock(msg.source):
                reply = dispatch(msg, citizen)
        else:  # questions and most events read only: no lock round trips
            reply = dispatch(msg, citizen)
    except Exception as exc:
        log.exception("bot: handling %s failed", msg.dedup_key)
        db.session.rollback()
        error = f"{type(exc).__name__}: {exc}"[:200]
        reply = M.SORRY
    deferred = error is None and current_app.config.get("JOBS_MODE") == "rq"
    try:
        pipe = r.pipeline(transaction=False)
        pipe.set(_reply_key(msg.dedup_key), reply, ex=REPLY_TTL_S)
        if deferred:
            pipe.rpush(PENDING_REPLIES, json.dumps([row_id, reply, utcnow().isoformat()], ensure_ascii=False))
            pipe.set(REPLY_FLUSH_DUE, 1, nx=True, ex=current_app.config.get("BOT_REPLY_FLUSH_INTERVAL_S", 2))
        results = pipe.execute()
    except RedisError as exc:  # the row below keeps the answer for WeChat's retries
        log.warning("bot: could not cache the reply to %s: %s", msg.dedup_key, exc)
        deferred, results = False, []
    if deferred:
        if results[-1]:  # the first reply of this interval schedules the flush
            with contextlib.suppress(Exception):
                enqueue("app.bot.tasks.flush_replies_job", job_id="bot-flush-replies")
        return reply
    try:
        _store_reply(row_id, reply, error)
    except SQLAlchemyError as exc:  # the step is done: answer it; the row only misses its audit copy
        db.session.rollback()
        log.warning("bot: could not store the reply to %s: %s", msg.dedup_key, exc)
    return reply


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


def _store_reply(row_id: int, reply: str, error: str | None) -> None:
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
            stored = r.get(_reply_key(dedup_key))
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
