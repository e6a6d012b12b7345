"""One push, one effect: record it, deduplicate WeChat's retries, dispatch, and keep the answer for the retries.

The inbound row is committed before anything is acted on (nothing is lost), and its unique dedup_key decides which
of several concurrent tries acts: the others wait briefly for the stored answer and return the same one.

The answer's copy on the row (reply, handled_at) is written in batches with rq workers (app.bot.replies). A push
meets Redis twice, through one app.bot.batch.PushBatch that the handlers fill and this module sends.

Layers of app/bot (imports go one way only): transport (routes, protocol) → record (inbound, replies) → dispatch
(handlers) → dialogue, visits, ask → use cases (tasks, app.reports services).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from functools import cache

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import Boolean, bindparam, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from app.bot import batch, dialogue
from app.bot import messages as M
from app.bot.handlers import changes_draft, dispatch, queue_reads
from app.bot.models import InboundMessage
from app.bot.protocol import Message
from app.bot.replies import (  # noqa: F401 (flush_replies, PENDING_REPLIES: the reply store, also used from here)
    PENDING_REPLIES,
    REPLY_FLUSH_DUE,
    REPLY_TTL_S,
    flush_replies,
    reply_key,
    store_reply,
    wait_for_reply,
)
from app.citizens.models import Citizen
from app.citizens.services import CitizenView, get_or_create_citizen
from app.events import utcnow
from app.extensions import db, get_redis
from app.jobs import enqueue

log = logging.getLogger(__name__)

# Pushes WeChat sends by itself or that must always take effect: never throttled.
UNTHROTTLED_EVENTS = {"subscribe", "unsubscribe", "location"}  # msg.event is lower case
WINDOW_SLACK = timedelta(minutes=1)


def _payload(msg: Message) -> dict:
    keep = {k: v[:2000] for k, v in msg.fields.items() if k not in ("ToUserName", "FromUserName", "Encrypt")}
    return keep


def handle_push(msg: Message) -> str:
    """The reply text for a push ("" when there is nothing to say)."""
    recorded = _record(msg)
    if recorded is None:  # a WeChat retry (or a concurrent try) of a message already recorded
        row_id = _reclaim_failed(msg.dedup_key)
        if row_id is None:
            return wait_for_reply(msg.dedup_key)
        # The first try failed (Redis or the database was away): WeChat's retry acts again instead of
        # repeating the apology, so a transient fault heals itself.
        citizen = CitizenView.of(get_or_create_citizen(msg.source))
    else:
        citizen, row_id = recorded
    return _act(msg, citizen, row_id)


def _row(msg: Message, citizen_id: int | None) -> dict:
    """The inbound row's values."""
    return {
        "dedup_key": msg.dedup_key,
        "citizen_id": citizen_id,
        "openid": msg.source,
        "msg_type": (msg.event and f"event:{msg.event}") or msg.type,
        "payload": _payload(msg),
        "msg_id": msg.msg_id,
        "created_at_wechat": msg.create_time,
        "received_at": utcnow(),
        "throttled": False,
    }


def _opens_window(msg: Message, last_message_at: datetime | None, now: datetime) -> bool:
    """Whether to write last_message_at: it opens WeChat's 48-hour customer-service window (a minute's slack)."""
    return msg.event != "unsubscribe" and (last_message_at is None or now - last_message_at > WINDOW_SLACK)


def _record(msg: Message) -> tuple[CitizenView, int] | None:
    """Commit the inbound row before anything is acted on; (the citizen, the row id), or None for a retry.

    On PostgreSQL this is one statement in autocommit (`_record_statement`): find the citizen, insert the row unless
    its dedup_key exists, refresh last_message_at when due, and return the citizen's columns, so the push costs one
    round trip, and no ORM object is built (handlers get a CitizenView). First contact creates the citizen and runs it
    again. SQLite (the embedded default) takes the same steps through the session.
    """
    engine = db.engine
    if engine.dialect.name != "postgresql":
        return _record_in_session(msg)
    for _ in range(2):
        now = utcnow()
        params = {f"p_{k}": v for k, v in _row(msg, None).items()}  # not column names: UPDATE would SET those
        params.update(p_now=now, p_stale=now - WINDOW_SLACK, p_touch=msg.event != "unsubscribe",
                      p_payload=json.dumps(params["p_payload"], ensure_ascii=False))
        row = _execute_autocommit(engine, _record_sql(engine.dialect), params)
        if row is None:  # first contact: create the citizen, then record
            get_or_create_citizen(msg.source)
            continue
        if row["row_id"] is None:
            return None
        if _opens_window(msg, row["last_message_at"], now):
            row["last_message_at"] = now  # the statement wrote it
        return CitizenView.of(row), row["row_id"]
    raise RuntimeError(f"citizen {msg.source} could not be created")


def _execute_autocommit(engine, sql: str, params: dict) -> dict | None:
    """One statement on a pooled psycopg connection in autocommit: its first row as {column: value}, or None.

    The hot path's one statement skips SQLAlchemy's execution layer (a fifth of a push's CPU): the SQL is compiled
    by SQLAlchemy once (`_record_sql`) and the pool still hands out only live connections. timestamptz values come
    back as aware datetimes; they are turned to UTC as UTCDateTime columns are.
    """
    pooled = engine.raw_connection()
    conn = pooled.driver_connection
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql, params)
            values = cur.fetchone()
            names = [d.name for d in cur.description]
        conn.autocommit = False
    except Exception:
        if conn.broken or conn.closed:  # the server went away: this connection must not go back to the pool
            pooled.invalidate()
        else:
            conn.autocommit = False
        raise
    finally:
        pooled.close()
    if values is None:
        return None
    return {n: (v.astimezone(UTC) if isinstance(v, datetime) else v) for n, v in zip(names, values, strict=True)}


@cache
def _record_sql(dialect) -> str:
    return str(_record_statement().compile(dialect=dialect))


@cache
def _record_statement():
    """WITH known (the citizen), touched (last_message_at), recorded (the row, ON CONFLICT DO NOTHING):
    SELECT the citizen's columns and the new row's id (NULL when the dedup_key was there)."""
    citizens, inbound = Citizen.__table__, InboundMessage.__table__
    at = citizens.c.last_message_at
    known = select(citizens).where(citizens.c.openid == bindparam("p_openid")).cte("known")
    known_id = select(known.c.id).scalar_subquery()
    touched = (
        update(citizens)
        .where(
            citizens.c.id == known_id,
            bindparam("p_touch", type_=Boolean),
            or_(at.is_(None), at < bindparam("p_stale", type_=at.type)),
        )
        .values(last_message_at=bindparam("p_now", type_=at.type))
        .cte("touched")
    )
    columns = ["dedup_key", "openid", "msg_type", "payload", "msg_id", "created_at_wechat", "received_at",
               "throttled"]
    values = [bindparam(f"p_{n}", type_=inbound.c[n].type).label(n) for n in columns]  # typed: rendered with casts
    source = select(known.c.id, *values)
    recorded = (
        pg_insert(inbound)
        .from_select(["citizen_id", *columns], source)
        .on_conflict_do_nothing(index_elements=[inbound.c.dedup_key])
        .returning(inbound.c.id)
        .cte("recorded")
    )
    return select(known, select(recorded.c.id).scalar_subquery().label("row_id")).add_cte(touched)


def _record_in_session(msg: Message) -> tuple[CitizenView, int] | None:
    """The same as one session transaction (SQLite)."""
    citizen = get_or_create_citizen(msg.source)
    now = utcnow()
    if _opens_window(msg, citizen.last_message_at, now):
        citizen.last_message_at = now
    session = db.session()
    try:
        row_id = db.session.execute(
            insert(InboundMessage.__table__).values(**_row(msg, citizen.id)).returning(InboundMessage.__table__.c.id)
        ).scalar_one()
        # Keep the citizen as just written instead of reloading it after the commit (saves two round trips).
        session.expire_on_commit = False
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return None
    finally:
        session.expire_on_commit = True
    return CitizenView.of(citizen), row_id


def _rate_key(msg: Message) -> str | None:
    """The Redis counter of this openid's current window, or None when this push is never throttled.

    A fixed window per openid (INCR + EXPIRE, sent with the push's first round trip). WeChat's retries are not
    counted: they are recognised before (handle_push). If Redis is away the message is let through.
    """
    limit = current_app.config.get("BOT_RATE_LIMIT", 0)
    if limit <= 0 or msg.event in UNTHROTTLED_EVENTS:
        return None
    window = max(1, int(current_app.config.get("BOT_RATE_WINDOW_S", 60)))
    return f"bot:rate:{msg.source}:{int(time.time()) // window}"


def _first_round_trip(msg: Message, push: batch.PushBatch, locking: bool) -> tuple[bool, bytes | None]:
    """The push's first Redis round trip: the rate count, the citizen's lock (tried, not waited for) and what the
    handlers asked to read (the draft, a pending return visit).

    Returns (over the rate limit, the lock's token when we hold it). What was read is kept for the handlers only when
    no other step can change it meanwhile: when we hold the lock, or when this push does not touch the draft. When
    Redis fails here, nothing is kept and the step does its own round trips (and fails there if Redis is really away).
    """
    rate_key = _rate_key(msg)
    token = dialogue.new_lock_token() if locking else None
    queue_reads(push, msg)
    try:
        pipe = get_redis().pipeline(transaction=False)
        if rate_key:
            pipe.incr(rate_key)
            pipe.expire(rate_key, int(current_app.config.get("BOT_RATE_WINDOW_S", 60)) + 5)
        if token:
            dialogue.queue_try_lock(pipe, msg.source, token)
        values = push.send_first(pipe)
    except RedisError as exc:
        log.warning("bot: first round trip for %s failed (rate limit not checked): %s", msg.source, exc)
        return False, None
    over = bool(rate_key) and push.first_results[0] > current_app.config["BOT_RATE_LIMIT"]
    held = bool(token) and bool(push.first_results[2 if rate_key else 0])
    if held or not locking:
        push.keep(values)
    return over, (token if held else None)


def _throttle(msg: Message, row_id: int) -> str:
    """Answer a message over the rate limit without acting on it; the row says so (throttled)."""
    log.warning("bot: %s is over the rate limit; %s recorded, not acted on", msg.source, msg.dedup_key)
    with contextlib.suppress(RedisError):
        get_redis().set(reply_key(msg.dedup_key), M.TOO_FAST, ex=REPLY_TTL_S)
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
            get_redis().delete(reply_key(dedup_key))
    return row_id


def _act(msg: Message, citizen: CitizenView, row_id: int) -> str:
    """Dispatch a recorded push and keep its answer (in Redis for the retries, and on the row).

    Redis is met twice in the usual case: `_first_round_trip`, then one pipeline with the draft's writes, the lock's
    release, the reply for the retries and the row's queued update.
    """
    locking = changes_draft(msg)
    push = batch.begin()
    try:
        over, token = _first_round_trip(msg, push, locking)
        if over:
            if token:
                dialogue.release_lock(msg.source, token)
            return _throttle(msg, row_id)
        return _dispatch_and_keep(msg, citizen, row_id, push, locking, token)
    finally:
        batch.end()


def _dispatch_and_keep(msg: Message, citizen: CitizenView, row_id: int, push: batch.PushBatch, locking: bool,
                       token: bytes | None) -> str:
    error = None
    try:
        if locking and token is None:  # another step of this citizen holds the lock: wait for it
            token = dialogue.acquire_lock(msg.source)
        reply = dispatch(msg, citizen)
    except Exception as exc:
        log.exception("bot: handling %s failed", msg.dedup_key)
        db.session.rollback()
        error = f"{type(exc).__name__}: {exc}"[:200]
        reply = M.SORRY
    deferred = error is None and current_app.config.get("JOBS_MODE") == "rq"
    wrote_draft = False
    try:
        pipe = get_redis().pipeline(transaction=False)
        if error is None:
            wrote_draft = push.fill_last(pipe)
        if token:
            dialogue.queue_release(pipe, msg.source, token)
        pipe.set(reply_key(msg.dedup_key), reply, ex=REPLY_TTL_S)
        if deferred:
            pipe.rpush(PENDING_REPLIES, json.dumps([row_id, reply, utcnow().isoformat()], ensure_ascii=False))
            pipe.set(REPLY_FLUSH_DUE, 1, nx=True, ex=current_app.config.get("BOT_REPLY_FLUSH_INTERVAL_S", 2))
        results = pipe.execute()
    except RedisError as exc:
        if wrote_draft:  # the step's change to the draft is not kept: say sorry, and let WeChat's retry redo it
            log.warning("bot: the draft of %s was not saved: %s", msg.source, exc)
            error, reply = f"draft not saved: {type(exc).__name__}: {exc}"[:200], M.SORRY
        else:  # the row below keeps the answer for WeChat's retries
            log.warning("bot: could not cache the reply to %s: %s", msg.dedup_key, exc)
        deferred, results = False, []
    if deferred:
        if results[-1]:  # the first reply of this interval schedules the flush
            with contextlib.suppress(Exception):
                enqueue("app.bot.tasks.flush_replies_job", job_id="bot-flush-replies")
        return reply
    try:
        store_reply(row_id, reply, error)
    except SQLAlchemyError as exc:  # the step is done: answer it; the row only misses its audit copy
        db.session.rollback()
        log.warning("bot: could not store the reply to %s: %s", msg.dedup_key, exc)
    return reply


