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
