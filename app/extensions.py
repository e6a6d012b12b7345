"""Extension objects (database, migrations, CSRF, Redis and rq queues), bound to the app with init_app."""

from __future__ import annotations

import select
from datetime import UTC, datetime

import fakeredis
import redis
from flask import Flask, current_app
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from rq import Queue
from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import Pool
from sqlalchemy.types import TypeDecorator

# Stable constraint names so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base for every model in every domain package."""

    metadata = MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base)
migrate = Migrate(compare_type=True)
csrf = CSRFProtect()

QUEUE_NAMES = ("default", "media", "notify")


class RedisQueues:
    """The Redis connection and the rq queues: real Redis when REDIS_URL is set, else fakeredis in process."""

    def init_app(self, app: Flask) -> None:
        """Connect (lazily: redis-py connects on first use) and build the queues."""
        url = app.config.get("REDIS_URL")
        if url:
            conn = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=30)
        else:
            # One fake server per app: tests get isolation, the dev server gets one shared store.
            conn = fakeredis.FakeRedis(server=fakeredis.FakeServer())
        is_async = app.config.get("JOBS_MODE", "inline") == "rq"
        app.extensions["redis"] = conn
        app.extensions["rq_queues"] = {name: Queue(name, connection=conn, is_async=is_async) for name in QUEUE_NAMES}


redis_queues = RedisQueues()


def get_redis() -> redis.Redis:
    """The app's Redis connection (real or fake)."""
    return current_app.extensions["redis"]


def get_queue(name: str = "default") -> Queue:
    """One of the app's rq queues."""
    return current_app.extensions["rq_queues"][name]


def init_database(app: Flask) -> None:
    """Bind SQLAlchemy and make SQLite behave under concurrent writers."""
    db.init_app(app)
    migrate.init_app(app, db, directory=str(app.config.get("MIGRATIONS_DIR", "migrations")))


@event.listens_for(Engine, "connect")
def _sqlite_on_connect(dbapi_connection, connection_record):
    """SQLite: WAL, foreign keys, a busy timeout, and transactions we begin ourselves (see _sqlite_begin)."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        # pysqlite's own transaction handling would issue a deferred BEGIN; take it over.
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn):
    """SQLite: BEGIN IMMEDIATE, so two writers queue instead of failing with 'database is locked'.

    A deferred BEGIN takes a read lock that cannot be upgraded when another writer is active
    (96 errors in 40 concurrent redemptions, see docs/reliability.md); IMMEDIATE takes the write
    lock up front and busy_timeout makes the others wait for it.
    """
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def connection_alive(dbapi_connection) -> bool:
    """Whether a pooled PostgreSQL connection is still usable, in most cases without a round trip.

    An idle connection has nothing to read. When the server closed it (restart, pg_terminate_backend, an idle
    timeout) it sent a FATAL error and/or EOF, so its socket is readable: only then is a real `SELECT 1` sent, and a
    failure means "replace it". This is SQLAlchemy's pessimistic disconnect handling (what pool_pre_ping does)
    without pool_pre_ping's round trip on every checkout. A peer that vanished without a word (a cut cable) is not
    seen here; the statement then fails and SQLAlchemy invalidates the pool, as it would after a ping's timeout.
    """
    pgconn = getattr(dbapi_connection, "pgconn", None)
    if pgconn is None:  # not psycopg (SQLite: a file, nothing to lose)
        return True
    if dbapi_connection.closed or dbapi_connection.broken or pgconn.status != 0:  # 0: CONNECTION_OK
        return False
    try:
        readable, _, _ = select.select([pgconn.socket], [], [], 0)
    except Exception:  # a closed socket (psycopg raises OperationalError for its fd)
        return False
    if not readable:
        return True
    autocommit = dbapi_connection.autocommit
    try:
        dbapi_connection.autocommit = True
        dbapi_connection.execute("SELECT 1")
        dbapi_connection.autocommit = autocommit
    except Exception:
        return False
    return True


@event.listens_for(Pool, "checkout")
def _check_connection(dbapi_connection, connection_record, connection_proxy):
    """Hand out only live connections: the pool retries with a fresh one on DisconnectionError."""
    if not connection_alive(dbapi_connection):
        raise DisconnectionError("the database closed this connection")


def api_timestamp(value: datetime | None) -> str | None:
    """The one timestamp format of every JSON API (staff, Open311, points): RFC 3339 in UTC to the second."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to api_timestamp")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC timestamp on every database (SQLite hands back naive values otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        """Store UTC; refuse naive datetimes, which are ambiguous."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        """Always hand back an aware UTC datetime."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
