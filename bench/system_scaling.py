"""Whole-stack scaling curve: the system test's report dialogues through 1, 2 and 4 gunicorn workers.

Runs tests/system/test_system_under_load.py without its faults (LOAD_FAULTS=0) once per worker count, in the same
session, and prints webhook messages/s and latency with the ratio to one worker. Each run starts its own stack
(gunicorn, two rq workers, a private Redis, the fake WeChat API) on 127.0.0.1 against PostgreSQL.

    .venv/bin/python bench/system_scaling.py [--citizens 200] [--concurrency 24] [--workers 1 2 4] [--rounds 1]

Needs DATABASE_URL (PostgreSQL; default postgresql://postgres@127.0.0.1:5432/baixing_bench) and a Redis server binary.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINE = re.compile(r"system test: .*?(?P<calls>\d+) webhook calls in (?P<secs>[\d.]+) s \((?P<rate>\d+) msg/s\), "
                  r"p50 (?P<p50>\d+) ms, p99 (?P<p99>\d+) ms")


def run_once(workers: int, citizens: int, concurrency: int) -> dict:
    env = {**os.environ, "SYSTEM_TEST": "1", "LOAD_FAULTS": "0", "LOAD_WEB_WORKERS": str(workers),
           "LOAD_CITIZENS": str(citizens), "LOAD_CONCURRENCY": str(concurrency),
           "DATABASE_URL": os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/baixing_bench"),
           "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9")}
    out = subprocess.run([sys.executable, "-m", "pytest", "tests/system", "-q", "-s", "-p", "no:cacheprovider"],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    found = LINE.search(out.stdout)
    if out.returncode != 0 or not found:
        sys.exit(f"the system test failed with {workers} workers:\n{out.stdout[-3000:]}\n{out.stderr[-2000:]}")
    return {k: float(v) for k, v in found.groupdict().items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--citizens", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=24)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--rounds", type=int, default=1, help="repeat the whole curve (interleaved) this many times")
    args = ap.parse_args()
    print(f"cores: {os.cpu_count()}, load average at start: {os.getloadavg()[0]:.2f}")
    results: dict[int, list[dict]] = {w: [] for w in args.workers}
    for _ in range(args.rounds):
        for w in args.workers:
            r = run_once(w, args.citizens, args.concurrency)
            results[w].append(r)
            print(f"  {w} web workers: {r['rate']:.0f} msg/s, p50 {r['p50']:.0f} ms, p99 {r['p99']:.0f} ms", flush=True)
    base = sorted(r["rate"] for r in results[args.workers[0]])[len(results[args.workers[0]]) // 2]
    print(f"\n| gunicorn workers | msg/s (median) | p50 ms | p99 ms | rate vs {args.workers[0]} worker(s) |")
    print("|---|---|---|---|---|")
    for w in args.workers:
        rs = sorted(results[w], key=lambda r: r["rate"])
        mid = rs[len(rs) // 2]
        print(f"| {w} | {mid['rate']:.0f} | {mid['p50']:.0f} | {mid['p99']:.0f} | {mid['rate'] / base:.2f} |")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
