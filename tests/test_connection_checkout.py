"""Pooled PostgreSQL connections are checked at checkout without a round trip, and replaced when the server closed
them (a restart, pg_terminate_backend, an idle timeout): the request that follows never sees the dead connection."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from app.extensions import connection_alive, db
from tests.conftest import ON_POSTGRES, PG_URL

pytestmark = pytest.mark.skipif(not ON_POSTGRES, reason="needs PostgreSQL (DATABASE_URL)")


def _terminate(pid: int) -> None:
    import psycopg

    with psycopg.connect(PG_URL.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
    time.sleep(0.2)  # the FATAL message and the close reach our socket


def test_a_healthy_connection_is_handed_out_without_a_statement(app, monkeypatch):
    import psycopg

    with db.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    sent = []
    original = psycopg.Connection.execute
    monkeypatch.setattr(psycopg.Connection, "execute", lambda self, *a, **k: sent.append(a) or original(self, *a, **k))
    monkeypatch.setattr(psycopg.Connection, "cursor", lambda self, *a, **k: pytest.fail("checkout sent a statement"))
    with db.engine.connect() as conn:
        assert connection_alive(conn.connection.dbapi_connection)
    assert sent == []


def test_a_connection_the_server_closed_is_replaced_at_checkout(app):
    with db.engine.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        raw = conn.connection.dbapi_connection
    _terminate(pid)
    assert not connection_alive(raw)
    # The next use gets a new backend instead of an error.
    assert db.session.execute(text("SELECT pg_backend_pid()")).scalar() != pid
    db.session.rollback()


def test_every_pooled_connection_killed_still_answers_the_webhook_path(app, client):
    """All connections killed at once (what a database restart does): the next requests are answered normally."""
    pids = []
    conns = [db.engine.connect() for _ in range(3)]
    for conn in conns:
        pids.append(conn.execute(text("SELECT pg_backend_pid()")).scalar())
    for conn in conns:
        conn.close()
    for pid in pids:
        _terminate(pid)
    for _ in range(3):
        assert client.get("/readyz").status_code == 200
