"""The migrations build the schema from empty, and the models agree with them (no autogenerate diff)."""

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from app import create_app
from app.extensions import db
from tests.conftest import ON_POSTGRES, PG_URL, make_config

MIGRATIONS = str(Path(__file__).resolve().parent.parent / "migrations")


@pytest.fixture
def empty_db_url(tmp_path):
    if not ON_POSTGRES:
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    url = make_url(
        PG_URL.replace("postgresql://", "postgresql+psycopg://", 1) if PG_URL.startswith("postgresql://") else PG_URL
    )
    name = f"{url.database}_migrations"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_upgrade_from_empty_matches_the_models_and_downgrades_cleanly(tmp_path, empty_db_url):
    app = create_app(make_config(tmp_path, DATABASE_URL=empty_db_url, MIGRATIONS_DIR=MIGRATIONS))
    with app.app_context():
        upgrade(directory=MIGRATIONS, revision="heads")
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), db.metadata)
        assert diff == [], f"models and migrations disagree: {diff}"
        assert "reports" in inspect(db.engine).get_table_names()
        downgrade(directory=MIGRATIONS, revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        db.engine.dispose()


def test_on_postgresql_the_migrated_audit_log_refuses_update_and_delete(tmp_path, empty_db_url):
    """The ORM refuses to change an audit entry; a migrated PostgreSQL database refuses too (a trigger)."""
    if not ON_POSTGRES:
        pytest.skip("the append-only trigger is PostgreSQL's (SQLite relies on the ORM guard)")
    from sqlalchemy.exc import DBAPIError

    app = create_app(make_config(tmp_path, DATABASE_URL=empty_db_url, MIGRATIONS_DIR=MIGRATIONS))
    with app.app_context():
        upgrade(directory=MIGRATIONS, revision="heads")
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO audit_log (at, actor_kind, actor_name, action, entity, entity_id, before, "
                              "after) VALUES (now(), 'cli', 'x', 'create', 'departments', '1', '{}', '{}')"))
        for statement in ("UPDATE audit_log SET actor_name = 'forged'", "DELETE FROM audit_log"):
            with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
                conn.execute(text(statement))
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT actor_name FROM audit_log")).scalars().all() == ["x"]
        db.engine.dispose()


def test_facts0001_to_0003_backfill_case_facts_from_existing_cases_and_trails(tmp_path, empty_db_url):
    """Upgrading a database that already has cases and trails fills case_facts with one row per case, equal to the
    trail's aggregation (facts0001), then with the copies of the case columns (facts0002), then with the return
    visits (facts0003): at the end the same check tests/conftest.py makes after every test."""
    from app.reports.case_facts import differences

    app = create_app(make_config(tmp_path, DATABASE_URL=empty_db_url, MIGRATIONS_DIR=MIGRATIONS))
    with app.app_context():
        upgrade(directory=MIGRATIONS, revision="mp0001")
        trail = [(1, "submit", "2026-11-02 01:00:00", "{}"), (1, "register", "2026-11-02 01:10:00", "{}"),
                 (1, "dispatch", "2026-11-02 01:20:00", '{"department": "JB-CGJ"}'),
                 (1, "dispatch", "2026-11-02 02:00:00", '{"department": "JB-HWS"}'),
                 (1, "handle", "2026-11-03 08:00:00", "{}"), (1, "send_back", "2026-11-03 09:00:00", "{}"),
                 (1, "handle", "2026-11-04 08:00:00", "{}"), (2, "submit", "2026-11-05 00:00:00", "{}"),
                 (2, "cancel", "2026-11-05 01:00:00", "{}"), (1, "close", "2026-11-04 09:00:00", "{}"),
                 (1, "feedback", "2026-11-05 09:00:00", '{"rating": "basically_satisfied"}'),
                 (1, "reopen", "2026-11-05 10:00:00", "{}"), (1, "close", "2026-11-06 09:00:00", "{}"),
                 (1, "feedback", "2026-11-07 09:00:00", '{"rating": "dissatisfied"}')]
        with db.engine.begin() as conn:
            for rid in (1, 2):
                conn.execute(text(
                    "INSERT INTO reports (id, case_number, description, needs_location, lat, lng, raw_lat, raw_lng, "
                    "raw_crs, status, channel, overdue, supervised, version, submitted_at, updated_at, moderation) "
                    f"VALUES ({rid}, 'JB{rid:010d}', 'x', false, 29.5, 106.5, 29.5, 106.5, 'wgs84', 'reported', "
                    "'wechat', false, false, 1, '2026-11-02 01:00:00+00', '2026-11-02 01:00:00+00', 'clear')"))
            for seq, (rid, action, at, data) in enumerate(trail, start=1):
                conn.execute(text(
                    "INSERT INTO report_events (report_id, seq, action, to_status, actor_kind, actor_name, "
                    "visibility, data, created_at) VALUES (:r, :s, :a, 'x', 'staff', 'x', 'internal', :d, :t)"),
                    {"r": rid, "s": seq, "a": action, "d": data, "t": at + "+00:00" if ON_POSTGRES else at})
        upgrade(directory=MIGRATIONS, revision="facts0001")
        with db.engine.connect() as conn:
            rows = conn.execute(text("SELECT report_id, n_dispatch, n_rework, n_departments FROM case_facts "
                                     "ORDER BY report_id")).all()
            assert [tuple(r) for r in rows] == [(1, 2, 1, 2), (2, 0, 0, 0)]  # reopen is no re-work
        upgrade(directory=MIGRATIONS, revision="facts0002")
        with db.engine.connect() as conn:
            rows = conn.execute(text("SELECT report_id, channel, department_id FROM case_facts ORDER BY report_id"))
            assert [tuple(r) for r in rows] == [(1, "wechat", None), (2, "wechat", None)]
        upgrade(directory=MIGRATIONS, revision="facts0003")
        with db.engine.connect() as conn:
            rows = conn.execute(text("SELECT report_id, n_visits, n_satisfied, last_visit IS NOT NULL FROM case_facts "
                                     "ORDER BY report_id"))
            assert [tuple(r) for r in rows] == [(1, 2, 1, True), (2, 0, 0, False)]
            assert differences(conn) == []
        db.engine.dispose()
