"""Points throughput on PostgreSQL: redemptions/s (many rewards, one hot reward), awards/s, beside a bare UPDATE.

    DATABASE_URL=postgresql://postgres@127.0.0.1/baixing_points_bench /work/venv/bin/python bench/points_redeem.py

Uses (and recreates the tables of) the database in DATABASE_URL; creates it when missing. Each scenario runs
THREADS threads for SECONDS seconds through the real service functions (one transaction per operation) and prints
operations per second and the ratio to a bare single-row `UPDATE ... SET balance = balance + 1` transaction.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere without installing

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app import create_app
from app.citizens.models import Citizen
from app.events import ReportVerified
from app.extensions import db
from app.points.models import Reward
from app.points.services import award_points_for, grant_points, redeem


def ensure_database(url: str) -> None:
    """Create the bench database when it does not exist."""
    u = make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
    admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": u.database}):
            conn.execute(text(f'CREATE DATABASE "{u.database}"'))
    admin.dispose()


def run(app, threads: int, seconds: float, op) -> tuple[float, list[float]]:
    """Call op(thread_index, n) in `threads` threads for `seconds`; returns (ops/s, latencies in ms)."""
    stop = time.perf_counter() + seconds
    barrier = threading.Barrier(threads)
    counts = [0] * threads
    lat: list[float] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        mine = []
        with app.app_context():
            barrier.wait()
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                op(i, counts[i])
                mine.append((time.perf_counter() - t0) * 1000)
                counts[i] += 1
            db.session.remove()
        with lock:
            lat.extend(mine)

    started = time.perf_counter()
    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(counts) / (time.perf_counter() - started), lat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1/baixing_points_bench")
    if not url.startswith("postgres"):
        raise SystemExit("this benchmark needs PostgreSQL in DATABASE_URL")
    ensure_database(url)
    app = create_app(
        {
            "APP_ENV": "testing",
            "DATABASE_URL": url,
            "REDIS_URL": "",
            "JOBS_MODE": "inline",
            "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": args.threads + 2},
            "POINTS_DAILY_CAP": 10**9,
        }
    )
    n_citizens = args.threads * 50
    with app.app_context():
        db.drop_all()
        db.create_all()
        citizens = []
        for i in range(n_citizens):
            c = Citizen(openid=f"oBench{i:06d}")
            db.session.add(c)
            citizens.append(c)
        db.session.commit()
        citizen_ids = [c.id for c in citizens]
        for cid in citizen_ids:
            grant_points(cid, 10**8, "bench", actor="bench")
        cold = [Reward(name=f"cold-{i}", cost=1, stock=10**8, total_stock=10**8) for i in range(args.threads)]
        hot = Reward(name="hot", cost=1, stock=10**8, total_stock=10**8)
        db.session.add_all([*cold, hot])
        db.session.commit()
        cold_ids, hot_id = [r.id for r in cold], hot.id
        # The baseline touches a scratch table, so the ledger still reconciles after the run.
        db.session.execute(text("DROP TABLE IF EXISTS bench_rows"))
        db.session.execute(text("CREATE TABLE bench_rows (id integer PRIMARY KEY, n bigint NOT NULL)"))
        db.session.execute(
            text("INSERT INTO bench_rows SELECT g, 10000000000 FROM generate_series(0, :n) g"), {"n": n_citizens}
        )
        db.session.commit()
        db.session.remove()

    per = n_citizens // args.threads  # each thread owns its citizens: no contention on accounts anywhere

    def bare_hot(i, n):
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE bench_rows SET n = n - 1 WHERE id = 0 AND n >= 1"))

    def bare_cold(i, n):
        with db.engine.begin() as conn:
            row = 1 + i * per + n % per
            conn.execute(text("UPDATE bench_rows SET n = n - 1 WHERE id = :id AND n >= 1"), {"id": row})

    def redeem_cold(i, n):
        redeem(citizen_ids[i * per + n % per], cold_ids[i], uuid.uuid4().hex)

    def redeem_hot(i, n):
        redeem(citizen_ids[i * per + n % per], hot_id, uuid.uuid4().hex)

    report_ids = itertools.count(1)

    def award(i, n):
        award_points_for(
            ReportVerified(
                report_id=next(report_ids),
                citizen_id=citizen_ids[i * per + n % per],
                category="E0504",
                duplicate_of=None,
            )
        )
        db.session.commit()

    scenarios = [
        ("bare UPDATE, one hot row (baseline)", bare_hot),
        ("bare UPDATE, a row per thread", bare_cold),
        ("redeem, many rewards (no contention)", redeem_cold),
        ("redeem, one hot reward", redeem_hot),
        ("award for a verified case", award),
    ]
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"PostgreSQL, {args.threads} threads x {args.seconds:g} s each, {when}")
    baseline = None
    for name, op in scenarios:
        run(app, args.threads, 0.5, op)  # warm-up: connections, statement caches
        rate, lat = run(app, args.threads, args.seconds, op)
        baseline = baseline or rate
        lat.sort()
        p50, p99 = statistics.median(lat), lat[int(len(lat) * 0.99) - 1]
        print(f"  {name:<40} {rate:7.0f}/s  x{rate / baseline:5.2f} of baseline  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms")
    with app.app_context():
        from app.points.queries import reconcile

        result = reconcile()
        print(
            f"  reconcile after the run: {'OK' if result.ok else 'FAILED'} "
            f"({result.accounts_checked} accounts, {result.rewards_checked} rewards)"
        )
        db.engine.dispose()


if __name__ == "__main__":
    main()
