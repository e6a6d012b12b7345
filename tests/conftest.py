"""Shared fixtures: an app on a fresh database per test, on SQLite + fakeredis or on PostgreSQL + Redis.

Set DATABASE_URL (PostgreSQL) and REDIS_URL to run the same suite against the real services, as CI does; jobs then
go through rq and `run_jobs()` drains them with a real rq worker (burst mode).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import text

from app import create_app
from app.extensions import QUEUE_NAMES, db, get_queue

PG_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")
ON_POSTGRES = PG_URL.startswith("postgres")
_pg_schema_ready = False


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
def app(tmp_path):
    """An app with reference data (departments, categories, demo grid) on a clean database and Redis."""
    from app.seed import seed_reference

    application = create_app(make_config(tmp_path))
    with application.app_context():
        reset_database()
        application.extensions["redis"].flushdb()
        seed_reference()
        yield application
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    """A test client for the app."""
    return app.test_client()


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
