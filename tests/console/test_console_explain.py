"""Every list query of the console, the staff API and Open311 uses an index (EXPLAIN on PostgreSQL)."""

import pytest
from sqlalchemy import text
from werkzeug.datastructures import MultiDict

from app.citizens.services import Actor
from app.extensions import db
from app.reports import open311, queries
from tests.console.console_bulk import insert_cases
from tests.factories import department_id


def plan(query) -> str:
    compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
    rows = db.session.execute(text(f"EXPLAIN {compiled}")).scalars().all()
    return "\n".join(rows)


CONSOLE_FILTERS = [
    {},
    {"status": "dispatched"},
    {"status": "reported,registered"},
    {"status": "dispatched", "sort": "deadline"},
    {"sort": "deadline"},
    {"sort": "oldest"},
    {"category": "E05"},
    {"category": "E0504"},
    {"department": "JB-S-GYQ"},
    {"overdue": "1"},
    {"channel": "hotline"},
    {"date_from": "2026-09-01", "date_to": "2026-09-30"},
    {"grid": "JB-GYQ"},
    {"q": "BK0000000042"},
]


OPEN311_FILTERS = [
    {},
    {"status": "open"},
    {"status": "closed"},
    {"service_code": "E0504,E0201"},
    {"start_date": "2026-09-01T00:00:00Z", "end_date": "2026-10-01T00:00:00Z"},
    {"service_request_id": "BK0000000001,BK0000000002"},
]


def test_every_list_query_uses_an_index_on_a_realistic_table(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("EXPLAIN plans are checked on PostgreSQL (set DATABASE_URL)")
    insert_cases(20_000)  # enough rows for the planner to prefer indexes where they exist
    db.session.execute(text("ANALYZE reports"))
    db.session.commit()
    bad = []
    for role in ("dispatcher", "handler"):
        dept = department_id("JB-S-GYQ") if role == "handler" else None
        actor = Actor(kind="staff", id=1, role=role, department_id=dept)
        for args in CONSOLE_FILTERS:
            f = queries.CaseFilter.from_args(MultiDict(args))
            text_plan = plan(queries.list_query(f, actor).limit(f.per_page))
            if "Seq Scan on reports" in text_plan or "Index" not in text_plan:
                bad.append((role, args, text_plan))
    for args in OPEN311_FILTERS:
        with app.test_request_context("/open311/v2/requests.json", query_string=args):
            text_plan = plan(open311.requests_query().limit(1000))
        if "Seq Scan on reports" in text_plan or "Index" not in text_plan:
            bad.append(("open311", args, text_plan))
    assert bad == [], "\n\n".join(f"{who} {args}:\n{p}" for who, args, p in bad)
