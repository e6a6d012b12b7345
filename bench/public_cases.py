"""Benchmark the public pages at scale: /cases (city-wide list), /cases?area=<street> and its map points, and the
per-street view, under gunicorn on PostgreSQL, beside the app's /healthz in the same run (ratios: the machine is
noisy).

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/baixing_bench .venv/bin/python bench/public_cases.py
    (--cases 1000000 --requests 60 --workers 2; --reuse measures the data a previous run generated;
     --drop drops every table afterwards)

The cases and their trails are made by bench/assessment_1m.py's generator (INSERT … SELECT in the database).
Requests alternate between the URLs so that a slow moment of the machine spreads over all of them.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text

from app.extensions import db
from app.seed import seed_reference
from bench.assessment_1m import generate
from bench.common import DEFAULT_PG, make_bench_app, pct

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(url: str, workers: int) -> tuple[subprocess.Popen, str]:
    """gunicorn with the app on `url`, waiting until /healthz answers."""
    port = free_port()
    env = dict(os.environ, APP_ENV="testing", DATABASE_URL=url, REDIS_URL="", WEB_CONCURRENCY=str(workers),
               GUNICORN_BIND=f"127.0.0.1:{port}", CATEGORY_MODEL_PRELOAD="0")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "-c", "deploy/gunicorn.conf.py",
                             "wsgi:app"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                return proc, base
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise SystemExit("gunicorn did not start")


def main() -> None:
    """Generate (or reuse) the cases, serve them, time the pages against /healthz."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--drop", action="store_true")
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG)
    app = make_bench_app(url) if not args.reuse else None
    if app is not None:
        with app.app_context():
            seed_reference()
            t0 = time.perf_counter()
            generate(args.cases)
            print(f"generated {args.cases:,} cases in {time.perf_counter() - t0:.0f} s", flush=True)
    from app import create_app

    probe = create_app({"APP_ENV": "testing", "DATABASE_URL": url, "REDIS_URL": ""})
    with probe.app_context():
        n = db.session.scalar(text("SELECT count(*) FROM reports"))
        street = db.session.scalar(text(
            "SELECT g.code FROM grid_cells g JOIN reports r ON r.grid_id = g.id WHERE g.level = 2 "
            "GROUP BY g.code ORDER BY count(*) DESC LIMIT 1"))
        month = db.session.scalar(text("SELECT to_char(max(submitted_at), 'YYYY-MM') FROM reports"))
    print(f"cases {n:,}; street {street}; period {month}", flush=True)
    proc, base = serve(url, args.workers)
    pages = {
        "/healthz (baseline)": "/healthz",
        "/cases (city-wide list, first page)": "/cases",
        f"/cases?area={street} (one street's list)": f"/cases?area={street}",
        f"/cases/map.json?area={street} (one street's map, ≤2,000 points)": f"/cases/map.json?area={street}",
        "/cases?page=50 (deep page)": "/cases?page=50",
        f"/cases/streets?period={month} (per-street counts, cached after the first)": f"/cases/streets?period={month}",
    }
    samples: dict[str, list[float]] = {name: [] for name in pages}
    try:
        session = requests.Session()
        for path in pages.values():  # warm: first counts, first assessment
            session.get(base + path, timeout=120).raise_for_status()
        for _ in range(args.requests):
            for name, path in pages.items():
                t0 = time.perf_counter()
                session.get(base + path, timeout=120).raise_for_status()
                samples[name].append(time.perf_counter() - t0)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    health = pct(samples["/healthz (baseline)"], 50)
    print(f"\n{args.requests} requests each, alternating, gunicorn {args.workers} workers\n")
    print("| page | p50 ms | p99 ms | p50 ÷ /healthz p50 |\n|---|---:|---:|---:|")
    for name, values in samples.items():
        p50, p99 = pct(values, 50), pct(values, 99)
        print(f"| {name} | {p50 * 1000:.1f} | {p99 * 1000:.1f} | {p50 / health:.1f} |")
    if args.drop:
        dropper = create_app({"APP_ENV": "testing", "DATABASE_URL": url, "REDIS_URL": ""})
        with dropper.app_context():
            db.drop_all()


if __name__ == "__main__":
    main()
