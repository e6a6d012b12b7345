"""Benchmark GET /s/<code> under gunicorn beside a hello-world route of the same app, in the same run (wrk).

    DATABASE_URL=postgresql://postgres@127.0.0.1/baixing_poi REDIS_URL=redis://127.0.0.1:6379/3 \
        /work/venv/bin/python bench/poi_web.py [--pois 20000] [--workers 2] [--threads 4] [--seconds 10]

`--in-process` measures the per-request cost through Flask's test client instead.
Needs `wrk` (apt-get install wrk). Without DATABASE_URL it uses a SQLite file (whose BEGIN IMMEDIATE per request
serialises readers: expect less). WARNING: with DATABASE_URL set it drops and recreates every table there.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

APP_MODULE = '''
from app import create_app
app = create_app()

@app.get("/bench/hello")
def hello():
    return "hello"
'''


def prepare(url: str, redis_url: str, n: int) -> None:
    """Fresh tables, the demo signs and POIs, plus n synthetic POIs around them."""
    import numpy as np
    from sqlalchemy import insert

    from app import create_app
    from app.extensions import db
    from app.poi.models import Poi
    from app.poi.seed import seed_demo

    app = create_app({"APP_ENV": "development", "DATABASE_URL": url, "REDIS_URL": redis_url})
    with app.app_context():
        db.drop_all()
        db.create_all()
        seed_demo()
        rng = np.random.default_rng(1)
        rows = [{"name": f"便民点{i}", "category_id": int(rng.integers(1, 5)), "lat": float(29.6 + rng.normal(0, 0.05)),
                 "lng": float(106.55 + rng.normal(0, 0.05)), "raw_lat": 0.0, "raw_lng": 0.0, "raw_crs": "wgs84",
                 "opening_hours": "06:00-22:00", "opening_hours_parsed": [[360, 1320]], "accessible": bool(i % 2),
                 "baby_room": False, "source": "bench", "active": True, "address": "重庆市江北区测试路1号"}
                for i in range(n)]
        for i in range(0, n, 20_000):
            db.session.execute(insert(Poi.__table__), rows[i : i + 20_000])
        db.session.commit()
        from app.poi.services import refresh_index

        refresh_index()
        db.session.remove()
        db.engine.dispose()


def in_process(url: str, redis_url: str, ttl: str | None, n: int = 500) -> None:
    """Per-request cost through Flask's test client (no HTTP server, no load generator sharing the CPU)."""
    from app import create_app

    app = create_app({"APP_ENV": "development", "DATABASE_URL": url, "REDIS_URL": redis_url,
                      **({} if ttl is None else {"POI_SIGN_CACHE_TTL_S": float(ttl)}),
                      "POI_SCAN_FLUSH_INTERVAL_S": 0})
    app.add_url_rule("/bench/hello", "bench_hello", lambda: "hello")
    client = app.test_client()
    costs = {}
    for path in ("/bench/hello", "/s/DEMO01"):
        client.get(path)
        t = time.perf_counter()
        for _ in range(n):
            client.get(path)
        costs[path] = (time.perf_counter() - t) / n * 1000
    print(f"in process (test client, {n} requests): hello {costs['/bench/hello']:.2f} ms, /s/DEMO01 "
          f"{costs['/s/DEMO01']:.2f} ms ({costs['/s/DEMO01'] / costs['/bench/hello']:.2f}x)")


def wrk(url: str, seconds: int, connections: int) -> tuple[float, str]:
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url],
                         capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])
    p99 = re.search(r"99%\s+(\S+)", out)[1]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise SystemExit(f"{url}: {non2xx[1]} error responses\n{out}")
    return rate, p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pois", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--sign-cache-ttl", default=None, help="POI_SIGN_CACHE_TTL_S (default: the app's)")
    parser.add_argument("--rounds", type=int, default=3, help="alternate hello world and the sign page this many times")
    parser.add_argument("--in-process", action="store_true", help="only the per-request cost via the test client")
    args = parser.parse_args()
    if not args.in_process and not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    tmp = Path(tempfile.mkdtemp())
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp}/bench.db"
    redis_url = os.environ.get("REDIS_URL", "")
    prepare(url, redis_url, args.pois)
    if args.in_process:
        in_process(url, redis_url, args.sign_cache_ttl)
        return
    (tmp / "bench_app.py").write_text(APP_MODULE, encoding="utf-8")
    env = {**os.environ, "APP_ENV": "development", "DATABASE_URL": url, "REDIS_URL": redis_url,
           "PYTHONPATH": f"{tmp}:{ROOT}", "JOBS_MODE": "inline", "POI_SCAN_FLUSH_INTERVAL_S": "0"}
    if args.sign_cache_ttl is not None:
        env["POI_SIGN_CACHE_TTL_S"] = args.sign_cache_ttl
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    cmd = [gunicorn, "-w", str(args.workers), "-k", "gthread", "--threads", str(args.threads), "--preload",
           "-b", f"127.0.0.1:{args.port}", "--log-level", "warning", "bench_app:app"]
    server = subprocess.Popen(cmd, env=env, cwd=tmp)
    base = f"http://127.0.0.1:{args.port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/bench/hello", timeout=1).read()
                break
            except OSError:
                time.sleep(0.2)
        page = urllib.request.urlopen(f"{base}/s/DEMO01", timeout=30).read()
        for _ in range(20):
            urllib.request.urlopen(f"{base}/s/DEMO01", timeout=30).read()
        print(f"/s/<code> under gunicorn, {time.strftime('%Y-%m-%d %H:%M')} UTC, {url.split(':')[0]}, "
              f"{args.pois + 330:,} POIs, gthread {args.workers}x{args.threads}, wrk -c{args.connections} "
              f"{args.seconds}s x {args.rounds} rounds, POI_SIGN_CACHE_TTL_S={args.sign_cache_ttl or 'default'}, "
              f"page {len(page):,} bytes, "
              f"load average {os.getloadavg()[0]:.1f}")
        ratios = []
        for i in range(args.rounds):  # alternated, so a burst of load elsewhere hits both sides
            hello_rate, hello_p99 = wrk(f"{base}/bench/hello", args.seconds, args.connections)
            sign_rate, sign_p99 = wrk(f"{base}/s/DEMO01", args.seconds, args.connections)
            ratios.append(sign_rate / hello_rate)
            print(f"round {i + 1}: hello world {hello_rate:,.0f} req/s (p99 {hello_p99}); /s/DEMO01 {sign_rate:,.0f} "
                  f"req/s (p99 {sign_p99}): {ratios[-1]:.0%} of hello world", flush=True)
        print(f"median ratio: {sorted(ratios)[len(ratios) // 2]:.0%} of hello world (range {min(ratios):.0%}–"
              f"{max(ratios):.0%})")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
