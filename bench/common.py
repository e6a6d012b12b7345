"""Helpers shared by the benchmark scripts: an app on a chosen database, timing and percentiles."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable

from sqlalchemy import text

from app import create_app
from app.extensions import db

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/baixing_bench"


def make_bench_app(database_url: str | None = None, **overrides):
    """An app on a fresh schema in `database_url` (default: a PostgreSQL database baixing_bench, created if absent)."""
    url = database_url or os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG)
    if url.startswith("postgres"):
        _ensure_pg_database(url)
    cfg = {"APP_ENV": "testing", "DATABASE_URL": url, "REDIS_URL": os.environ.get("BENCH_REDIS_URL", ""),
           "MEDIA_ROOT": tempfile.mkdtemp(prefix="bench-media-"), "INDEX_CHECK_INTERVAL_S": 60, **overrides}
    app = create_app(cfg)
    with app.app_context():
        db.drop_all()
        db.create_all()
    return app


def _ensure_pg_database(url: str) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from app.config import normalize_database_url

    u = make_url(normalize_database_url(url))
    admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": u.database}).scalar():
            conn.execute(text(f'CREATE DATABASE "{u.database}"'))
    admin.dispose()


def timed(fn: Callable[[], object], n: int) -> list[float]:
    """Run fn n times; return each call's duration in seconds."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def pct(samples: list[float], p: float) -> float:
    """The p-th percentile (0-100) of samples."""
    ordered = sorted(samples)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary(name: str, samples: list[float]) -> str:
    """One line: calls/s, p50, p99 in milliseconds."""
    total = sum(samples)
    return (f"{name:<44} {len(samples) / total:>9.0f}/s  p50 {pct(samples, 50) * 1e3:7.3f} ms  "
            f"p99 {pct(samples, 99) * 1e3:7.3f} ms  mean {statistics.fmean(samples) * 1e3:7.3f} ms")
