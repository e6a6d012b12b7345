"""Signed WeChat text pushes per second and latency, under gunicorn against PostgreSQL and Redis.

Three apps, four scenarios, in the same run, each served by gunicorn (same worker count) and loaded by wrk:
  echo     — a minimal wechatpy echo webhook (bench/bot_echo.py): the baseline
  echo+commit — the same plus one durable INSERT of the message in PostgreSQL, in autocommit
             (bench/bot_echo.py:durable_app): the floor of any webhook that records a message durably before
             answering, as #4 requires
  help     — our /wechat with 「帮助」 from known citizens (1,000 per sender thread): verify, parse, record +
             dedup (one statement), rate count, dispatch, reply kept in Redis (two Redis round trips)
  dialogue — our /wechat with a report sentence: the same plus the citizen's lock, a draft step in Redis and the
             category suggestion
Max throughput with wrk (closed loop), then a fixed 200 msg/s (open loop, latency from the scheduled send time).

  DATABASE_URL=postgresql://postgres@127.0.0.1/baixing_bot_bench REDIS_URL=redis://127.0.0.1:6379/1 \
.venv/bin/python bench/bot_webhook.py [--workers 4] [--seconds 10] [--worker-class gthread --threads 4]
The database is dropped and recreated (its name must end in _bench).
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(sys.executable).parent
TOKEN = "bench-token"

LUA = r"""
local counter = 0
local tid = 0
local ids = 0
function setup(thread)
  ids = ids + 1
  thread:set("tid", ids)
end
function init(args)
  tid = tonumber(wrk.thread:get("tid")) or 1
end
request = function()
  counter = counter + 1
  local openid = string.format("oBench%s%d_%d", "{group}", tid, counter % {citizens})
  local msgid = string.format("{prefix}%d%09d", tid, counter)
  local body = "<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[" .. openid ..
    "]]></FromUserName><CreateTime>" .. os.time() .. "</CreateTime><MsgType><![CDATA[text]]></MsgType>" ..
    "<Content><![CDATA[{content}]]></Content><MsgId>" .. msgid .. "</MsgId></xml>"
  return wrk.format("POST", "{path}", {{["Content-Type"] = "text/xml"}}, body)
end
"""


def signed_path() -> str:
    ts, nonce = str(int(time.time())), "benchnonce"
    sig = hashlib.sha1("".join(sorted([TOKEN, ts, nonce])).encode()).hexdigest()
    return f"/wechat?timestamp={ts}&nonce={nonce}&signature={sig}"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(module: str, port: int, workers: int, env: dict, worker_class: str = "sync",
                   threads: int = 1) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            str(VENV / "gunicorn"),
            "-w",
            str(workers),
            "-k",
            worker_class,
            "--threads",
            str(threads),
            "-b",
            f"127.0.0.1:{port}",
            "--preload",
            "--log-level",
            "warning",
            module,
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    for _ in range(100):
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn {module} did not start")


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=20)


def wrk(port: int, content: str, prefix: str, seconds: int, connections: int, citizens: int, group: str) -> dict:
    """wrk's closed loop: message ids start with `prefix`; openids oBench<group><thread>_<n>, n < citizens."""
    script = LUA.format(prefix=prefix, group=group, content=content, path=signed_path(), citizens=citizens)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", fh.name, f"http://127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(fh.name)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    pct = {p: _ms(v) for p, v in re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rate": rate, "p50": pct.get("50"), "p99": pct.get("99"), "non2xx": int(errors.group(1)) if errors else 0}


def _ms(v: str) -> float:
    unit = re.sub(r"[\d.]", "", v)
    return float(v[: -len(unit)]) * {"us": 0.001, "ms": 1, "s": 1000}[unit]


def fixed_rate(port: int, content: str, prefix: str, rate: int, seconds: int, citizens: int, group: str) -> dict:
    """Open loop: request i is due at start + i/rate; latency counts from when it was due.

    The sender shares the two cores with the server, so it is kept light: http.client, not requests (gunicorn's
    sync workers close every connection anyway). Its own CPU per request is reported.
    """
    path = signed_path()
    n = rate * seconds
    latencies, errors = [], []

    def one(i: int, due: float) -> None:
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        body = (
            f"<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[oBench{group}0_{i % citizens}]]>"
            f"</FromUserName><CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{prefix}{i:09d}</MsgId></xml>"
        ).encode()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("POST", path, body=body, headers={"Content-Type": "text/xml"})
            res = conn.getresponse()
            res.read()
            status = res.status
        except OSError:
            status = 0
        finally:
            conn.close()
        latencies.append((time.perf_counter() - due) * 1000)
        if status != 200:
            errors.append(status)

    cpu0 = time.process_time()
    start = time.perf_counter() + 0.2
    with ThreadPoolExecutor(max_workers=64) as pool:
        for i in range(n):
            pool.submit(one, i, start + i / rate)
    latencies.sort()
    return {
        "rate": rate,
        "p50": statistics.median(latencies),
        "p99": latencies[int(len(latencies) * 0.99) - 1],
        "errors": len(errors),
        "sender_cpu_ms": (time.process_time() - cpu0) / n * 1000,
    }


def prepare_database(env: dict) -> None:
    url = env["DATABASE_URL"]
    name = url.rsplit("/", 1)[1]
    if not name.endswith("_bench"):
        raise SystemExit("DATABASE_URL must name a database ending in _bench (it is dropped and recreated)")
    admin = url.rsplit("/", 1)[0] + "/postgres"
    import psycopg

    with psycopg.connect(admin.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(
        [str(VENV / "flask"), "--app", "wsgi:app", "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    code = (
        "from app import create_app\nfrom app.seed import seed_reference\napp=create_app()\n"
        "with app.app_context(): seed_reference()\n"
        "from app.extensions import db\nfrom sqlalchemy import text\n"
        "with app.app_context(), db.engine.begin() as c:\n"
        "    c.execute(text('DROP TABLE IF EXISTS bench_echo_log'))\n"
        "    c.execute(text('CREATE TABLE bench_echo_log (id bigserial PRIMARY KEY, openid text, '\n"
        "                   'msg_id text UNIQUE, body text, at timestamptz DEFAULT now())'))"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True)


def seed_citizens(env: dict, groups: list[str], citizens: int, threads: int = 2) -> None:
    """Create the citizens the load writes as: the runs measure known citizens (first contact is once per person)."""
    import psycopg

    with psycopg.connect(env["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")) as conn:
        for group in groups:
            conn.execute(
                "INSERT INTO citizens (openid, subscribed, created_at) SELECT 'oBench' || %s || t || '_' || n, true, "
                "now() FROM generate_series(0, %s) t, generate_series(0, %s) n ON CONFLICT DO NOTHING",
                (group, threads, citizens - 1),
            )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--rate", type=int, default=200)
    ap.add_argument("--worker-class", default="sync", help="gunicorn's -k for all three apps (sync, gthread)")
    ap.add_argument("--threads", type=int, default=1, help="threads per worker (gthread)")
    args = ap.parse_args()
    env = dict(
        os.environ,
        APP_ENV="production",
        SECRET_KEY="bench",
        WECHAT_TOKEN=TOKEN,
        WECHAT_APP_ID="wxbench",
        WECHAT_APP_SECRET="bench",
        JOBS_MODE="rq",
        PYTHONPATH=str(ROOT),
    )
    if not env.get("DATABASE_URL", "").startswith("postgres") or not env.get("REDIS_URL"):
        raise SystemExit("set DATABASE_URL (PostgreSQL, a *_bench database) and REDIS_URL")
    prepare_database(env)
    citizens = 1000
    seed_citizens(env, ["help", "dialogue"], citizens)
    echo_port, bot_port = free_port(), free_port()
    durable_port = free_port()
    serve = {"workers": args.workers, "env": env, "worker_class": args.worker_class, "threads": args.threads}
    echo = start_gunicorn("bench.bot_echo:app", echo_port, **serve)
    durable = start_gunicorn("bench.bot_echo:durable_app", durable_port, **serve)
    bot = start_gunicorn("wsgi:app", bot_port, **serve)
    run = str(int(time.time()) % 100000)
    results = {}
    try:
        for name, port, content in (
            ("echo", echo_port, "帮助"),
            ("echo+commit", durable_port, "帮助"),
            ("help", bot_port, "帮助"),
            ("dialogue", bot_port, "小区门口的路灯不亮了"),
        ):
            group = name.replace("+", "")
            wrk(port, content, f"9{run}{len(name)}", 2, args.connections, citizens, group)  # warm-up
            results[name] = wrk(port, content, f"1{run}{len(name)}", args.seconds, args.connections, citizens, group)
            if not name.startswith("echo"):
                results[name + "@rate"] = fixed_rate(
                    port, content, f"2{run}{len(name)}", args.rate, args.seconds, citizens, group
                )
    finally:
        stop(echo)
        stop(durable)
        stop(bot)
    print(f"gunicorn {args.worker_class} x{args.workers} (threads {args.threads}), "
          f"wrk -t2 -c{args.connections} -d{args.seconds}s; fixed rate {args.rate}/s")
    print(f"{'scenario':<16}{'msg/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}{'vs echo':>9}{'vs e+c':>8}")
    for name, r in results.items():
        ratio = r["rate"] / results["echo"]["rate"] if "@" not in name else float("nan")
        durable_ratio = r["rate"] / results["echo+commit"]["rate"] if "@" not in name else float("nan")
        err = r.get("non2xx", r.get("errors", 0))
        sender = f"  (sender {r['sender_cpu_ms']:.2f} ms CPU/request)" if "sender_cpu_ms" in r else ""
        print(f"{name:<16}{r['rate']:>10.0f}{r['p50']:>10.1f}{r['p99']:>10.1f}{err:>8}{ratio:>9.2f}"
              f"{durable_ratio:>8.2f}{sender}")


if __name__ == "__main__":
    main()
