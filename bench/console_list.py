"""Benchmark: the console's case list with 100,000 cases (filters applied) and Open311 GET with 1,000 results.

Prints p50/p99 server time per request (Flask test client, no network), with a baseline measured in the same run:
the bare list SQL (what the page costs beyond its query) and GET /healthz (the framework's floor).

    createdb/psql: CREATE DATABASE baixing_console_bench;
    DATABASE_URL=postgresql://postgres@127.0.0.1/baixing_console_bench /work/venv/bin/python bench/console_list.py
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text
from werkzeug.datastructures import MultiDict

from app import create_app
from app.citizens.auth import STAFF_SESSION_KEY
from app.citizens.models import StaffUser
from app.citizens.services import Actor
from app.citizens.sessions import start_session
from app.events import utcnow
from app.extensions import db
from app.reports import queries
from app.seed import seed_reference
from tests.console.console_bulk import insert_cases
from tests.factories import department_id

FILTERS = [
    ("all, newest first", {}),
    ("status=dispatched", {"status": "dispatched"}),
    ("category=E05 (a class)", {"category": "E05"}),
    ("department", {"department": "JB-S-GYQ"}),
    ("overdue=1", {"overdue": "1"}),
    ("30-day range", {"date_from": "2026-10-01", "date_to": "2026-10-30"}),
    ("channel=hotline", {"channel": "hotline"}),
    ("sort=deadline", {"sort": "deadline"}),
    ("status+category+page 5", {"status": "closed", "category": "E0504", "page": "5"}),
    ("case number", {"q": "BK0000054321"}),
]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def timed(fn, n: int) -> list[float]:
    fn()  # warm caches and connections
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("set DATABASE_URL to an empty PostgreSQL database (its tables are dropped and recreated)")
    app = create_app({"APP_ENV": "testing", "SECRET_KEY": "bench", "DATABASE_URL": url,
                      "MEDIA_ROOT": tempfile.mkdtemp(), "REDIS_URL": "", "JOBS_MODE": "inline"})
    with app.app_context():
        db.drop_all()
        db.create_all()
        seed_reference()
        t = time.perf_counter()
        insert_cases(args.cases)
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        print(f"inserted {args.cases} cases in {time.perf_counter() - t:.1f} s")
        users = {}
        for name, role, dept in (("bench-dispatcher", "dispatcher", None), ("bench-handler", "handler", "JB-S-GYQ")):
            user = StaffUser(username=name, role=role, password_hash="x", display_name=name,
                             department_id=department_id(dept) if dept else None)
            db.session.add(user)
            db.session.commit()
            users[role] = user.id
        dispatcher = Actor(kind="staff", id=users["dispatcher"], role="dispatcher")

        def client_for(role):
            c = app.test_client()
            with c.session_transaction() as s:
                s[STAFF_SESSION_KEY] = start_session(users[role])
            return c

        c = client_for("dispatcher")
        health = timed(lambda: c.get("/healthz"), args.runs)
        print(f"\nbaseline GET /healthz: p50 {pct(health, 50):.1f} ms")
        head = f"{'SQL p50':>8} {'page p50':>9} {'page p99':>9} {'page/SQL':>9}"
        print(f"\n{'console case list (100k cases)':<30} {head}")
        everything = []
        for label, q in FILTERS:
            f = queries.CaseFilter.from_args(MultiDict(q))
            sql = timed(lambda f=f: queries.list_cases(f, dispatcher), args.runs)
            db.session.rollback()

            def page(q=q):
                response = c.get("/console/", query_string=q)
                assert response.status_code == 200, response.status_code

            took = timed(page, args.runs)
            everything += took
            print(f"{label:<30} {pct(sql, 50):>6.1f}ms {pct(took, 50):>7.1f}ms {pct(took, 99):>7.1f}ms "
                  f"{pct(took, 50) / pct(sql, 50):>8.1f}x")
        h = client_for("handler")
        took = timed(lambda: h.get("/console/"), args.runs)
        everything += took
        print(f"{'handler (own department)':<30} {'':>8} {pct(took, 50):>7.1f}ms {pct(took, 99):>7.1f}ms")
        print(f"{'all filters together':<30} {'':>8} {pct(everything, 50):>7.1f}ms {pct(everything, 99):>7.1f}ms")

        took = timed(lambda: c.get("/console/dashboard"), max(5, args.runs // 3))
        print(f"\ndashboard (30 days of {args.cases} cases): p50 {pct(took, 50):.0f} ms, p99 {pct(took, 99):.0f} ms")

        print("\nOpen311 GET requests (1,000 results per answer)")
        end = utcnow()
        window = {"start_date": (end - timedelta(days=89)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "end_date": end.strftime("%Y-%m-%dT%H:%M:%SZ")}
        for fmt in ("json", "xml"):
            def o311(fmt=fmt):
                response = c.get(f"/open311/v2/requests.{fmt}", query_string=window)
                assert response.status_code == 200
                return response

            n = o311().data.count(b"service_request_id") // (1 if fmt == "json" else 2)
            took = timed(o311, max(5, args.runs // 2))
            print(f"requests.{fmt:<5} {n} results: p50 {pct(took, 50):.0f} ms, p99 {pct(took, 99):.0f} ms, "
                  f"{pct(took, 50) / pct(health, 50):.0f}x /healthz")
        db.session.remove()
        db.engine.dispose()


if __name__ == "__main__":
    main()
