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
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINE = re.compile(r"system test: .*?(?P<calls>\d+) webhook calls in (?P<secs>[\d.]+) s \((?P<rate>\d+) msg/s\), "
                  r"p50 (?P<p50>\d+) ms, p99 (?P<p99>\d+) ms")


class CpuSampler:
    """Machine-wide CPU use from /proc/stat: the busiest 3 s window of a run (1.0 = every core busy)."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, int, int]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _read() -> tuple[int, int]:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        idle = fields[3] + fields[4]
        return sum(fields) - idle, sum(fields)

    def _run(self) -> None:
        while not self.stop.wait(0.5):
            busy, total = self._read()
            self.samples.append((time.monotonic(), busy, total))

    def __enter__(self) -> CpuSampler:
        if os.path.exists("/proc/stat"):
            self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()

    def peak(self, window_s: float = 3.0) -> float:
        best = 0.0
        for i, (t0, b0, n0) in enumerate(self.samples):
            for t1, b1, n1 in self.samples[i + 1 :]:
                if t1 - t0 >= window_s:
                    best = max(best, (b1 - b0) / max(1, n1 - n0))
                    break
        return best


def run_once(workers: int, citizens: int, concurrency: int) -> dict:
    env = {**os.environ, "SYSTEM_TEST": "1", "LOAD_FAULTS": "0", "LOAD_WEB_WORKERS": str(workers),
           "LOAD_CITIZENS": str(citizens), "LOAD_CONCURRENCY": str(concurrency),
           "DATABASE_URL": os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/baixing_bench"),
           "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9")}
    with CpuSampler() as cpu:
        out = subprocess.run([sys.executable, "-m", "pytest", "tests/system", "-q", "-s", "-p", "no:cacheprovider"],
                             cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    found = LINE.search(out.stdout)
    if out.returncode != 0 or not found:
        sys.exit(f"the system test failed with {workers} workers:\n{out.stdout[-3000:]}\n{out.stderr[-2000:]}")
    return {**{k: float(v) for k, v in found.groupdict().items()}, "cpu": cpu.peak()}


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
            print(f"  {w} web workers: {r['rate']:.0f} msg/s, p50 {r['p50']:.0f} ms, p99 {r['p99']:.0f} ms, "
                  f"busiest 3 s: {r['cpu']:.0%} of all cores", flush=True)
    base = sorted(r["rate"] for r in results[args.workers[0]])[len(results[args.workers[0]]) // 2]
    print(f"\n| gunicorn workers | msg/s (median) | p50 ms | p99 ms | rate vs {args.workers[0]} worker(s) "
          "| CPU, busiest 3 s |")
    print("|---|---|---|---|---|---|")
    for w in args.workers:
        rs = sorted(results[w], key=lambda r: r["rate"])
        mid = rs[len(rs) // 2]
        print(f"| {w} | {mid['rate']:.0f} | {mid['p50']:.0f} | {mid['p99']:.0f} | {mid['rate'] / base:.2f} "
              f"| {mid['cpu']:.0%} |")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
