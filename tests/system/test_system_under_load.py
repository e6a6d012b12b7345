"""The whole stack under load and faults: gunicorn + rq workers + PostgreSQL + Redis + the fake WeChat API.

Simulated citizens report through signed webhook calls (with WeChat-style retries) while a worker is SIGKILLed
mid-job, Redis is killed and restarted, and the database refuses connections for a few seconds. At the end every
report exists exactly once with its photo, every citizen got exactly one message per case state, staff push every
case to verified through the staff API and the points reconcile. Bounded in count and time; only 127.0.0.1.

Runs with SYSTEM_TEST=1 where DATABASE_URL points at PostgreSQL and REDIS_URL is set (CI does, at 200 citizens);
LOAD_CITIZENS sets the load, LOAD_WEB_WORKERS the gunicorn workers, LOAD_FAULTS=0 leaves the faults out and
LOAD_CONCURRENCY sets the citizens reporting at once (24), both for bench/system_scaling.py. The Redis it uses
is its own, on a free port, with an append-only file.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ClassVar

import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.bot.fake_wechat import FakeWeChat
from app.config import normalize_database_url
from tests.bot.wechat_wire import AES_KEY, APP_ID, TOKEN, Citizen, WeChat, _msg_ids
from tests.factories import jpeg_bytes

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PG_URL = os.environ.get("DATABASE_URL", "")
CITIZENS = int(os.environ.get("LOAD_CITIZENS", "200"))
FAULTS = os.environ.get("LOAD_FAULTS", "1") != "0"
CASE_RE = re.compile(r"JB\d{10,}")
STATES = ("registered", "dispatched", "handled", "verified")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (PG_URL.startswith("postgres") and os.environ.get("REDIS_URL")
                            and os.environ.get("SYSTEM_TEST") == "1"),
                       reason="the system test runs the real stack: set SYSTEM_TEST=1, DATABASE_URL (PostgreSQL) "
                              "and REDIS_URL, as .ci/run does"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float, what: str, step: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class Stack:
    """The processes of a deployment on this machine, with the faults the test injects."""

    def __init__(self, tmp: Path, fake: FakeWeChat):
        url = make_url(normalize_database_url(PG_URL))
        self.db_name = f"{url.database}_system"
        self.db_url = url.set(database=self.db_name).render_as_string(hide_password=False)
        self.admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        self.tmp = tmp
        self.redis_port = free_port()
        self.web_port = free_port()
        self.procs: dict[str, subprocess.Popen] = {}
        self.env = {
            **os.environ,
            "APP_ENV": "production",
            "SECRET_KEY": "system-test-secret-of-at-least-32-bytes",
            "DATABASE_URL": self.db_url,
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "MEDIA_ROOT": str(tmp / "media"),
            "WECHAT_TOKEN": TOKEN,
            "WECHAT_APP_ID": APP_ID,
            "WECHAT_APP_SECRET": fake.secret,
            "WECHAT_ENCODING_AES_KEY": AES_KEY,
            "WECHAT_MESSAGE_MODE": "compatible",  # the simulated citizens push plain messages (safe mode refuses them)
            "WECHAT_API_BASE_URL": fake.base_url,
            "WECHAT_HTTP_TIMEOUT_S": "3",
            "JOB_TIMEOUT_S": "20",
            "RQ_MAINTENANCE_INTERVAL_S": "5",
            "OUTBOX_SWEEP_GRACE_S": "5",
            "OUTBOX_STALL_S": "30",
            "LOG_LEVEL": "WARNING",
            "PROMETHEUS_MULTIPROC_DIR": str(tmp / "prom"),
            "WEB_CONCURRENCY": os.environ.get("LOAD_WEB_WORKERS", "3"),
            "GUNICORN_BIND": f"127.0.0.1:{self.web_port}",
            "PYTHONPATH": str(ROOT),
        }
        self.env.pop("REDIS_URL_TEST", None)
        self.base = f"http://127.0.0.1:{self.web_port}"

    # -------------------------------------------------------------------------------------------- processes
    def flask(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "flask"), "--app", "wsgi:app", *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=300, check=check)

    def spawn(self, name: str, args: list[str]) -> None:
        with open(self.tmp / f"{name}.log", "ab") as log:  # the child keeps its own copy of the descriptor
            self.procs[name] = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                                start_new_session=True)

    def start_redis(self) -> None:
        (self.tmp / "redis").mkdir(exist_ok=True)
        # Production Redis keeps an append-only file, so queued jobs and dialogue drafts survive a restart.
        self.spawn("redis", ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
                             "--dir", str(self.tmp / "redis"), "--appendonly", "yes", "--appendfsync", "always",
                             "--save", ""])
        wait_until(lambda: subprocess.run(["redis-cli", "-p", str(self.redis_port), "ping"],
                                          capture_output=True).returncode == 0, 20, "redis")

    def start_worker(self, name: str) -> None:
        self.spawn(name, [str(BIN / "flask"), "--app", "wsgi:app", "rq", "worker", "--name", f"{name}-{time.time()}",
                          "--maintenance-interval", "5"])

    def supervise(self) -> None:
        """Restart web and worker processes that exit, as systemd's Restart=always does in production."""
        while not self.stopping.wait(1.0):
            for name in ("worker1", "worker2", "web"):
                proc = self.procs.get(name)
                if proc is not None and proc.poll() is not None and not self.stopping.is_set():
                    self.restarts += 1
                    if name == "web":
                        self.spawn("web", [str(BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py", "wsgi:app"])
                    else:
                        self.start_worker(name)

    def start(self) -> None:
        self.stopping = threading.Event()
        self.restarts = 0
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{self.db_name}"'))
        (self.tmp / "prom").mkdir()
        self.start_redis()
        self.flask("db", "upgrade", "heads")
        self.flask("seed", "demo")
        self.spawn("web", [str(BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py", "wsgi:app"])
        self.start_worker("worker1")
        self.start_worker("worker2")
        wait_until(lambda: self._ready(), 60, "gunicorn /readyz")
        threading.Thread(target=self.supervise, daemon=True).start()

    def _ready(self) -> bool:
        try:
            return requests.get(self.base + "/readyz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def stop(self) -> None:
        self.stopping.set()
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        if not os.environ.get("KEEP_SYSTEM_DB"):  # keep it to investigate a failure
            with self.admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)'))
        self.admin.dispose()

    # -------------------------------------------------------------------------------------------- faults
    def kill_worker(self) -> None:
        """SIGKILL a worker (its job is abandoned mid-way), then start a replacement."""
        os.killpg(self.procs["worker1"].pid, signal.SIGKILL)  # the supervisor starts a replacement

    def restart_redis(self) -> None:
        os.killpg(self.procs["redis"].pid, signal.SIGKILL)
        self.procs["redis"].wait()
        time.sleep(1.0)
        self.start_redis()

    def refuse_database(self, seconds: float) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{self.db_name}" ALLOW_CONNECTIONS false'))
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :d AND pid <> pg_backend_pid()"), {"d": self.db_name})
            time.sleep(seconds)
            conn.execute(text(f'ALTER DATABASE "{self.db_name}" ALLOW_CONNECTIONS true'))

    # -------------------------------------------------------------------------------------------- figures
    def cpu_seconds(self) -> dict[str, float]:
        """CPU time used so far by each part of the stack (from /proc), to see where the load goes."""
        tick = os.sysconf("SC_CLK_TCK")
        sessions = {proc.pid: name.rstrip("12") for name, proc in self.procs.items()}
        used = {"web": 0.0, "worker": 0.0, "redis": 0.0, "postgres": 0.0}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                raw = (entry / "stat").read_text()
            except OSError:
                continue
            comm = raw[raw.index("(") + 1 : raw.rindex(")")]
            fields = raw[raw.rindex(")") + 2 :].split()
            seconds = (int(fields[11]) + int(fields[12])) / tick
            part = sessions.get(int(fields[3])) or ("postgres" if comm.startswith("postgres") else None)
            if part:
                used[part] += seconds
        used["client"] = sum(os.times()[:2])
        return used

    def sql(self, query: str, **params):
        engine = create_engine(self.db_url)
        try:
            with engine.connect() as conn:
                return conn.execute(text(query), params).all()
        finally:
            engine.dispose()


class Phone(Citizen):
    """A citizen who behaves as WeChat does (3 tries of a push) and as people do (sends again after an apology)."""

    latencies: ClassVar[list[float]] = []
    retries = 0
    lock = threading.Lock()

    def send(self, msg_type: str, extra: dict, msg_id: int | None = None, **kw) -> str:
        for _human_try in range(3):
            fields = {**self.base(msg_type), **extra, "MsgId": msg_id if msg_id is not None else next(_msg_ids)}
            for _wechat_try in range(3):  # WeChat retries the same MsgId when we fail or are slow
                t0 = time.perf_counter()
                try:
                    res = self.wechat.push(fields)
                    ok = res.status_code == 200
                except requests.RequestException:
                    ok = False
                with Phone.lock:
                    Phone.latencies.append(time.perf_counter() - t0)
                if ok:
                    reply = self.wechat.reply(res)
                    if reply and "抱歉" not in reply:
                        return reply
                with Phone.lock:
                    Phone.retries += 1
                time.sleep(1.0)
        raise AssertionError(f"{self.openid}: no answer to {msg_type} after every retry")


def report_once(phone: Phone, lat: float, lng: float) -> str:
    phone.photo(jpeg_bytes(size=(320, 240), color=(hash(phone.openid) % 255, 80, 80)))
    phone.location(lat, lng)
    reply = phone.text("路口有人摆摊卖水果，占了人行道")
    found = CASE_RE.search(reply)
    assert found, f"{phone.openid}: no case number in the reply: {reply}"
    return found.group(0)


@pytest.fixture
def stack():
    fake = FakeWeChat(appid=APP_ID, secret="system-test-wechat-secret").start()
    tmp = Path(tempfile.mkdtemp(prefix="baixing-system-"))
    s = Stack(tmp, fake)
    s.fake = fake
    try:
        s.start()
        yield s
    finally:
        s.stop()
        fake.stop()


@pytest.mark.timeout(900)
def test_two_hundred_citizens_through_faults_lose_nothing_and_double_nothing(stack):
    fake = stack.fake
    wechat = WeChat(stack.base)
    phones = [Phone(wechat, f"oLoad{i:05d}", fake) for i in range(CITIZENS)]
    # Spots spread over 观音桥 (GCJ-02 as WeChat sends them), far enough apart to be different problems.
    spots = [(29.560 + (i // 20) * 0.0015, 106.490 + (i % 20) * 0.0015) for i in range(CITIZENS)]
    cases: dict[str, str] = {}
    faults_done: list[str] = []

    def faults():
        # Inject each fault while reports are flowing.
        wait_until(lambda: len(cases) >= CITIZENS * 0.2, 300, "20% of the reports", 0.1)
        stack.kill_worker()
        faults_done.append("worker SIGKILL")
        wait_until(lambda: len(cases) >= CITIZENS * 0.45, 300, "45% of the reports", 0.1)
        stack.restart_redis()
        faults_done.append("redis restart")
        wait_until(lambda: len(cases) >= CITIZENS * 0.7, 300, "70% of the reports", 0.1)
        stack.refuse_database(3.0)
        faults_done.append("database refused 3 s")

    injector = threading.Thread(target=faults if FAULTS else lambda: None, daemon=True)
    injector.start()
    t0 = time.perf_counter()
    cpu0 = stack.cpu_seconds()

    def run(i: int) -> None:
        cases[phones[i].openid] = report_once(phones[i], *spots[i])

    with ThreadPoolExecutor(max_workers=int(os.environ.get("LOAD_CONCURRENCY", "24"))) as pool:
        list(pool.map(run, range(CITIZENS)))
    elapsed = time.perf_counter() - t0
    cpu = {part: used - cpu0.get(part, 0.0) for part, used in stack.cpu_seconds().items()}
    injector.join(timeout=60)
    assert faults_done == (["worker SIGKILL", "redis restart", "database refused 3 s"] if FAULTS else [])

    # Every report exists exactly once, and (once the jobs have caught up) with its photo.
    rows = stack.sql("SELECT r.case_number, c.openid FROM reports r JOIN citizens c ON c.id = r.citizen_id "
                     "WHERE c.openid LIKE 'oLoad%'")
    assert len(rows) == CITIZENS and {r.openid: r.case_number for r in rows} == cases

    def photos_settled():
        stack.flask("wechat", "photos", "fetch")  # what the cron's photo-refetch does every two minutes
        stored = stack.sql("SELECT count(*) FROM report_photos p JOIN reports r ON r.id = p.report_id "
                           "JOIN citizens c ON c.id = r.citizen_id "
                           "WHERE c.openid LIKE 'oLoad%' AND p.status = 'stored'")
        return stored[0][0] == CITIZENS

    wait_until(photos_settled, 240, "every photo stored", step=5)
    assert stack.sql("SELECT count(*) FROM report_photos WHERE status <> 'stored'")[0][0] == 0

    # Staff push every case to verified through the staff API.
    token = stack.flask("api-tokens", "create", "loadtest", "--role", "admin").stdout.strip().splitlines()[-1]
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    ids = [r.id for r in stack.sql("SELECT id FROM reports r WHERE citizen_id IS NOT NULL "
                                   "AND EXISTS (SELECT 1 FROM citizens c WHERE c.id = r.citizen_id "
                                   "AND c.openid LIKE 'oLoad%')")]

    def push(report_id: int) -> None:
        for action, body in (("register", {}), ("dispatch", {}), ("handle", {"note": "已劝离"}), ("verify", {})):
            res = session.post(f"{stack.base}/api/staff/cases/{report_id}/transitions",
                               json={"action": action, **body}, timeout=30)
            assert res.status_code == 200, res.text

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(push, ids))

    # Every citizen hears exactly once about each state, and about the points the case earned.
    def notified():
        stack.flask("events", "sweep", "--grace", "0")  # what the cron's outbox sweep does every 30 s
        return all(len(fake.messages_to(p.openid)) >= len(STATES) + 1 for p in phones)

    wait_until(notified, 240, "every notification", step=5)
    time.sleep(3)  # let any duplicate that was going to be sent arrive
    for p in phones:
        texts = [m.get("text", {}).get("content", "") for m in fake.messages_to(p.openid)]
        assert len(texts) == len(STATES) + 1, (p.openid, texts)
        assert sum("积分" in t for t in texts) == 1, texts
    balances = stack.sql("SELECT a.balance FROM points_accounts a JOIN citizens c ON c.id = a.citizen_id "
                         "WHERE c.openid LIKE 'oLoad%'")
    assert sorted(b.balance for b in balances) == [10] * CITIZENS
    reconcile = stack.flask("points", "reconcile", check=False)
    assert reconcile.returncode == 0, reconcile.stdout

    failed = stack.sql("SELECT count(*) FROM bot_inbound_messages WHERE error IS NOT NULL")[0][0]
    job_failures = sum(log.read_text(errors="replace").count("exception raised while executing")
                       for log in stack.tmp.glob("worker*.log"))
    lat = sorted(Phone.latencies)
    print(f"\nsystem test: {CITIZENS} citizens, {len(lat)} webhook calls in {elapsed:.1f} s "
          f"({len(lat) / elapsed:.0f} msg/s), p50 {statistics.median(lat) * 1e3:.0f} ms, "
          f"p99 {lat[int(len(lat) * 0.99) - 1] * 1e3:.0f} ms, client retries {Phone.retries}, "
          f"job tries that failed and were retried {job_failures}, "
          f"pushes still failed {failed}, process restarts {stack.restarts}, "
          f"faults: {', '.join(faults_done) or 'none'}, web workers {stack.env['WEB_CONCURRENCY']}"
          + ("" if FAULTS else "; CPU seconds while reporting: " + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items())))
