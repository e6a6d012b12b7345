"""Where one webhook push goes, in process: time per push and round trips to PostgreSQL and Redis per push.

A Flask test client sends signed text pushes to /wechat (no HTTP server, one thread), on PostgreSQL + Redis with
JOBS_MODE=rq (jobs are queued, not run). SQL statements are counted at psycopg's cursor (PostgreSQL), pool
checkouts with the pool's, Redis round trips by wrapping the connection's command sender; CPU is this process's.
`--profile` prints the top of a cProfile run (PROFILE_SORT=tottime, PROFILE_TOP=80 to change it).

  BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1/baixing_bench BENCH_REDIS_URL=redis://127.0.0.1:6379/1 \
      .venv/bin/python bench/bot_inprocess.py [--n 2000] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from redis.connection import Connection
from sqlalchemy import event

from bench.common import make_bench_app, pct

TOKEN = "bench-token"
SCENARIOS = {"help": "帮助", "dialogue": "小区门口的路灯不亮了"}


def _query() -> str:
    ts, nonce = str(int(time.time())), "benchnonce"
    sig = hashlib.sha1("".join(sorted([TOKEN, ts, nonce])).encode(), usedforsecurity=False).hexdigest()
    return f"/wechat?timestamp={ts}&nonce={nonce}&signature={sig}"


def _body(openid: str, msg_id: int, content: str) -> bytes:
    return (
        f"<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    ).encode()


class Counter:
    """Round trips seen since the last reset."""

    def __init__(self) -> None:
        self.sql = self.checkouts = self.redis = 0

    def reset(self) -> None:
        self.sql = self.checkouts = self.redis = 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--citizens", type=int, default=200)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    if not os.environ.get("BENCH_REDIS_URL"):
        raise SystemExit("set BENCH_REDIS_URL (and BENCH_DATABASE_URL for a PostgreSQL database)")
    app = make_bench_app(
        APP_ENV="production", SECRET_KEY="bench", WECHAT_TOKEN=TOKEN, WECHAT_APP_ID="wxbench",
        WECHAT_APP_SECRET="bench", JOBS_MODE="rq", LOG_REQUESTS=False,
    )
    from app.extensions import db, get_redis
    from app.seed import seed_reference

    with app.app_context():
        seed_reference()
        get_redis().flushdb()
        engine = db.engine
    counts = Counter()
    import psycopg

    cursor_execute = psycopg.Cursor.execute

    def counted_execute(self, *a, **k):  # every statement sent, through SQLAlchemy or on a raw connection
        counts.sql += 1
        return cursor_execute(self, *a, **k)

    psycopg.Cursor.execute = counted_execute
    event.listen(engine.pool, "checkout", lambda *a: setattr(counts, "checkouts", counts.checkouts + 1))
    original = Connection.send_packed_command

    def counted(self, command, check_health=True):
        counts.redis += 1
        return original(self, command, check_health)

    Connection.send_packed_command = counted
    client = app.test_client()
    msg_id = 10**15
    print(f"{'scenario':<10}{'pushes':>8}{'mean ms':>9}{'p50 ms':>8}{'p99 ms':>8}{'CPU ms':>8}{'SQL':>6}"
          f"{'checkouts':>10}{'Redis':>7}")
    for name, content in SCENARIOS.items():
        for warm in (True, False):
            n = args.citizens if warm else args.n
            times, counts_sql, counts_ping, counts_redis = [], 0, 0, 0
            cpu0 = time.process_time()
            prof = cProfile.Profile() if (args.profile and not warm) else None
            query = _query()
            for i in range(n):
                msg_id += 1
                body = _body(f"oBench{name}{i % args.citizens}", msg_id, content)
                counts.reset()
                t0 = time.perf_counter()
                if prof:
                    prof.enable()
                res = client.post(query, data=body, content_type="text/xml")
                if prof:
                    prof.disable()
                times.append(time.perf_counter() - t0)
                assert res.status_code == 200, res.data
                counts_sql += counts.sql
                counts_ping += counts.checkouts
                counts_redis += counts.redis
            cpu = time.process_time() - cpu0
            if warm:
                continue
            print(f"{name:<10}{n:>8}{sum(times) / n * 1000:>9.2f}{pct(times, 50) * 1000:>8.2f}"
                  f"{pct(times, 99) * 1000:>8.2f}{cpu / n * 1000:>8.2f}{counts_sql / n:>6.1f}{counts_ping / n:>10.1f}"
                  f"{counts_redis / n:>7.1f}")
            if prof:
                stats = pstats.Stats(prof).sort_stats(os.environ.get("PROFILE_SORT", "cumulative"))
                stats.print_stats(int(os.environ.get("PROFILE_TOP", "40")))


if __name__ == "__main__":
    main()
