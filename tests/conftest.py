"""Shared fixtures: an app on a fresh database per test, on SQLite + fakeredis or on PostgreSQL + Redis.

Set DATABASE_URL (PostgreSQL) and REDIS_URL to run the same suite against the real services, as CI does; jobs then
go through rq and `run_jobs()` drains them with a real rq worker (burst mode).
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from app import create_app
from app.extensions import QUEUE_NAMES, db, get_queue

PG_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")
ON_POSTGRES = PG_URL.startswith("postgres")
_pg_schema_ready = False


def pytest_sessionstart(session) -> None:
    if ON_POSTGRES:
        ensure_database(PG_URL)


def ensure_database(url: str) -> None:
    """Create the PostgreSQL test database when the server does not have it yet (README's command on a new machine:
    `DATABASE_URL=…/baixing_test … python3 tasks.py test` needs no createdb first)."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from app.config import normalize_database_url

    target = make_url(normalize_database_url(url))
    engine = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": target.database}):
                quoted = conn.dialect.identifier_preparer.quote(target.database)
                conn.execute(text(f"CREATE DATABASE {quoted}"))
    finally:
        engine.dispose()


def make_config(tmp_path: Path, **overrides) -> dict:
    """A testing config on this run's backends."""
    cfg = {
        "APP_ENV": "testing",
        "SECRET_KEY": "test-secret",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "DATABASE_URL": PG_URL if ON_POSTGRES else f"sqlite:///{tmp_path / 'test.db'}",
        "REDIS_URL": REDIS_URL,
        "JOBS_MODE": "rq" if REDIS_URL else "inline",
        "INDEX_CHECK_INTERVAL_S": 0,
        "WTF_CSRF_ENABLED": True,
        "SERVER_NAME": None,
        # No trained category model unless a test trains one (tests/reports_model): the keyword fallback.
        "CATEGORY_MODEL_DIR": str(tmp_path / "models"),
        "CATEGORY_MODEL_TRAIN_AT_SEED": False,
    }
    cfg.update(overrides)
    return cfg


def reset_database() -> None:
    """Fresh tables: create them on SQLite; on PostgreSQL create once per session, then truncate."""
    global _pg_schema_ready
    if db.engine.dialect.name == "postgresql":
        if not _pg_schema_ready:
            db.drop_all()
            db.create_all()
            _pg_schema_ready = True
        tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
        with db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    else:
        db.create_all()


@pytest.fixture
def app(tmp_path, request):
    """An app with reference data (departments, categories, demo grid) on a clean database and Redis.

    `@pytest.mark.app_config(NAME=value)` starts it with those settings (e.g. JOBS_MODE="rq": jobs wait in the
    queues for a worker even on fakeredis)."""
    from app.seed import seed_reference

    marker = request.node.get_closest_marker("app_config")
    application = create_app(make_config(tmp_path, **(marker.kwargs if marker else {})))
    with application.app_context():
        reset_database()
        application.extensions["redis"].flushdb()
        seed_reference()
        yield application
        db.session.remove()
        _assert_case_facts_current()
        db.engine.dispose()


def _assert_case_facts_current() -> None:
    """After every test: the trail's rollup (case_facts) equals the aggregation of the trail, whichever use cases the
    test ran, so every path that writes trail entries is checked to keep it current in its transaction."""
    from sqlalchemy import inspect

    from app.reports.case_facts import differences

    with db.engine.connect() as conn:
        if "case_facts" in inspect(conn).get_table_names():
            stale = differences(conn)
            assert stale == [], f"case_facts differs from the trail for cases {stale[:20]}"


@pytest.fixture
def client(app):
    """A test client for the app."""
    return app.test_client()


class RoundTrips:
    """PostgreSQL statements and Redis round trips sent by any thread (the live server runs in one), counted where
    they leave: psycopg's cursor (through SQLAlchemy or not, pings included) and redis-py's connection."""

    def __init__(self, monkeypatch):
        import psycopg
        from redis.connection import Connection

        self.sql = self.redis = 0
        execute = psycopg.Cursor.execute
        send = Connection.send_packed_command

        def counted_execute(cursor, *args, **kwargs):
            self.sql += 1
            return execute(cursor, *args, **kwargs)

        def counted_send(conn, command, check_health=True):
            self.redis += 1
            return send(conn, command, check_health)

        monkeypatch.setattr(psycopg.Cursor, "execute", counted_execute)
        monkeypatch.setattr(Connection, "send_packed_command", counted_send)

    def reset(self) -> None:
        self.sql = self.redis = 0


@pytest.fixture
def round_trips(monkeypatch):
    """Count the round trips to PostgreSQL and Redis from here on (`.sql`, `.redis`, `.reset()`)."""
    return RoundTrips(monkeypatch)


class Clock:
    """A settable instant (aware, UTC) that the app reads as now."""

    def __init__(self, now: datetime):
        self.now = now

    def advance(self, **delta) -> None:
        """Move the clock on: clock.advance(minutes=15)."""
        self.now += timedelta(**delta)


# Where the app reads the wall clock: every timestamp goes through app.events.utcnow, opening hours through
# app.poi.hours. A new reader of datetime.now() belongs in this list (docs/testing.md).
CLOCK_READERS = ("app.events", "app.poi.hours")


@pytest.fixture
def clock(monkeypatch):
    """The clock, one of the two things faked (docs/testing.md): `datetime.now()` where the app reads it returns
    `clock.now` (2026-11-23 10:00 in Shanghai unless set), so a test moves time instead of sleeping."""
    import importlib

    state = Clock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))

    class SetDatetime(datetime):
        @classmethod
        def now(cls, tz=None):
            return state.now.astimezone(tz) if tz else state.now.replace(tzinfo=None)

    for name in CLOCK_READERS:
        monkeypatch.setattr(importlib.import_module(name), "datetime", SetDatetime)
    return state


@pytest.fixture
def redis_down(app):
    """A context manager during which the app's Redis refuses connections, as while Redis restarts: real Redis is
    pointed at a closed port (connection refused), fakeredis's server is disconnected."""
    import contextlib

    conn = app.extensions["redis"]
    pool = conn.connection_pool

    @contextlib.contextmanager
    def outage():
        saved = dict(pool.connection_kwargs)
        if "server" in saved:
            saved["server"].connected = False
        else:
            with socket.socket() as s:  # a port nothing listens on
                s.bind(("127.0.0.1", 0))
                closed = s.getsockname()[1]
            pool.connection_kwargs.update(host="127.0.0.1", port=closed)
        pool.disconnect()
        pool.reset()  # connections are made anew, from the kwargs in force
        try:
            yield
        finally:
            if "server" in saved:
                saved["server"].connected = True
            pool.connection_kwargs.clear()
            pool.connection_kwargs.update(saved)
            pool.disconnect()
            pool.reset()

    return outage


@pytest.fixture
def runner(app):
    """A CLI runner for the app's flask commands."""
    return app.test_cli_runner()


@pytest.fixture
def run_jobs(app):
    """Drain the queues with a real rq worker (burst); a no-op where jobs run inline."""

    def drain() -> int:
        if app.config["JOBS_MODE"] != "rq":
            return 0
        from rq import SimpleWorker

        worker = SimpleWorker([get_queue(n) for n in QUEUE_NAMES], connection=app.extensions["redis"])
        worker.work(burst=True)
        return worker.successful_job_count + worker.failed_job_count

    return drain


@pytest.fixture
def live_server(app):
    """The app served over real HTTP on 127.0.0.1 (a thread); yields its base URL.

    On SQLite, end the test's own transaction (db.session.commit()) before the server is called: a transaction
    holds SQLite's write lock (BEGIN IMMEDIATE) and the server's request would wait for it.
    """
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    db.session.commit()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def _chromium() -> str | None:
    import shutil

    for path in (os.environ.get("CHROMIUM_PATH"), *CHROMIUM_PATHS, shutil.which("chromium")):
        if path and os.path.exists(path):
            return path
    return None


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium driven by Playwright; the test is skipped (with the reason) when none is installed."""
    executable = _chromium()
    if executable is None:
        pytest.skip("no Chromium installed (apt-get install chromium); browser tests skipped")
    from playwright.sync_api import sync_playwright  # a pinned test dependency: always there with `.[dev]`
    with sync_playwright() as pw:
        instance = pw.chromium.launch(
            executable_path=executable,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield instance
        instance.close()


@pytest.fixture
def page(browser, request):
    """A fresh browser page (phone-sized when the test is marked `phone`); a screenshot is saved afterwards."""
    phone = request.node.get_closest_marker("phone") is not None
    context = browser.new_context(viewport={"width": 390, "height": 844} if phone else {"width": 1280, "height": 860},
                                  device_scale_factor=2 if phone else 1, is_mobile=phone, locale="zh-CN")
    pg = context.new_page()
    yield pg
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    finally:
        context.close()


# ------------------------------------------------------------------------------------------- the category model
_trained: dict[str, bytes] = {}


@pytest.fixture(scope="session")
def trained_model_bytes(tmp_path_factory) -> bytes:
    """A category model trained once per test session on the shipped corpus (default seed): the model file's bytes.

    Training takes a few seconds; tests that need a model publish these bytes (`published_model`) instead.
    """
    if "model" not in _trained:
        from app.reports.suggest.train import train, training_set
        from app.seed import seed_reference

        tmp = tmp_path_factory.mktemp("model")
        application = create_app(make_config(tmp))
        with application.app_context():
            reset_database()
            application.extensions["redis"].flushdb()
            seed_reference()
            _trained["model"] = train(training_set()).to_bytes()
            db.session.remove()
            db.engine.dispose()
    return _trained["model"]


def publish_model_bytes(data: bytes) -> str:
    """Write a model file into the current app's model directory and publish it; returns its version."""
    from app.reports.suggest import store
    from app.reports.suggest.model import CategoryModel

    version = CategoryModel.version_of(data)
    store.model_dir().mkdir(parents=True, exist_ok=True)
    (store.model_dir() / store.file_name(version)).write_bytes(data)
    store.publish(version)
    return version


@pytest.fixture
def published_model(app, trained_model_bytes) -> str:
    """The session's trained model published in this test's app; yields its version."""
    return publish_model_bytes(trained_model_bytes)
