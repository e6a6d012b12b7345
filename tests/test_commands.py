"""The documented commands, run as an operator runs them: `python3 tasks.py serve`, `flask seed demo`, `flask info`,
`flask poi seed-categories` and `flask rq cron` (its schedule as registered in rq's scheduler)."""

from __future__ import annotations

import csv
import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from app.extensions import db
from tests.conftest import REDIS_URL

ROOT = Path(__file__).resolve().parent.parent
FLASK = [str(Path(sys.executable).with_name("flask")), "--app", "wsgi:app"]


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def process_env(tmp_path: Path, **extra: str) -> dict:
    """This environment without the suite's backends, on a database and media folder under tmp_path."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "JOBS_MODE", "APP_ENV")}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'serve.db'}", MEDIA_ROOT=str(tmp_path / "media"),
               CATEGORY_MODEL_DIR=str(tmp_path / "models"), **extra)
    return env


# ------------------------------------------------------------------------------------------------- flask seed demo


def _demo_lines(new: bool = True) -> list[str]:
    """What `flask seed demo` prints on a database with only the reference data (new=True) or once more (False):
    what exists, and how much of it this run added, derived from the demo data."""
    from app.poi.seed import DEMO_POIS, DEMO_SIGNS
    from app.points.seed import DEMO_REWARDS
    from app.seed import DEMO_CASES, DEMO_STAFF

    with DEMO_POIS.open(encoding="utf-8") as f:
        pois = sum(1 for _ in csv.DictReader(f))
    departments, categories, cells = _reference_counts()

    def n(total: int) -> str:
        return f"{total} ({total if new else 0} new"

    return [f"departments: {departments} (0 new)", f"categories: {categories} (0 new)",
            f"grid cells: {cells} (0 new)", f"staff users: {n(len(DEMO_STAFF))})",
            *([f"staff user {name} ({role}) created" for name, role, _, _ in DEMO_STAFF] if new else []),
            f"cases: {n(len(DEMO_CASES))})", f"poi categories: {n(4)})", f"demo POIs: {n(pois)})",
            f"signs: {n(len(DEMO_SIGNS))}; open /s/DEMO01)", f"rewards: {n(len(DEMO_REWARDS))})"]


def _reference_counts() -> tuple[int, int, int]:
    """Departments, categories and grid cells the reference seed made (0s outside an app: callers skip those lines)."""
    from flask import has_app_context

    from app.reports.models import Category, Department, GridCell

    if not has_app_context():
        return 0, 0, 0
    return count(Department), count(Category), count(GridCell)


def test_seed_demo_says_what_it_added_and_a_second_run_adds_nothing(app, runner):
    from app.citizens.models import StaffUser
    from app.poi.models import Poi, Sign
    from app.points.models import Reward
    from app.reports.models import Report

    first = runner.invoke(args=["seed", "demo"])
    assert first.exit_code == 0, first.output
    assert first.output.splitlines() == _demo_lines()
    counts = [count(m) for m in (StaffUser, Report, Poi, Sign, Reward)]
    assert counts == [4, 4, 330, 6, 3]
    again = runner.invoke(args=["seed", "demo"])
    assert again.output.splitlines() == _demo_lines(new=False)
    assert [count(m) for m in (StaffUser, Report, Poi, Sign, Reward)] == counts


# ------------------------------------------------------------------------------------------------------ flask info


def test_info_prints_the_backends_urls_that_answer_and_logins_that_work(app, runner):
    from tests.console.conftest import login

    runner.invoke(args=["seed", "demo"])
    result = runner.invoke(args=["info", "--host", "127.0.0.1", "--port", "5055"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert f"  database   {app.config['SQLALCHEMY_DATABASE_URI']}" in lines
    redis_line = app.config["REDIS_URL"] or "in-process substitute (fakeredis); jobs run inline"
    assert f"  redis      {redis_line}" in lines and f"  media      {app.config['MEDIA_ROOT']}" in lines
    paths = re.findall(r"^  http://127\.0\.0\.1:5055(/\S*)", result.output, re.M)
    assert paths == ["/healthz", "/readyz", "/console/", "/wechat", "/s/DEMO01", "/points/",
                     "/open311/v2/discovery.json"]
    client = app.test_client()
    answers = {path: client.get(path) for path in paths}
    assert {path: r.status_code for path, r in answers.items()} == {
        "/healthz": 200, "/readyz": 200, "/console/": 302, "/wechat": 403, "/s/DEMO01": 200, "/points/": 401,
        "/open311/v2/discovery.json": 200}
    assert answers["/console/"].headers["Location"].startswith("/console/login")
    assert "/points/login" in answers["/points/"].get_data(as_text=True)  # the page that leads to WeChat sign-in
    logins = re.findall(r"^  (\w+) +(\S+) +(\w+)$", result.output.split("Demo staff logins")[1], re.M)
    assert [(name, role) for name, _, role in logins] == [("admin", "admin"), ("dispatcher", "dispatcher"),
                                                          ("handler", "handler"), ("inspector", "inspector")]
    for name, password, _ in logins:
        assert login(app.test_client(), name, password).status_code == 302, name


# ------------------------------------------------------------------------------------------ flask poi seed-categories


def test_poi_seed_categories_adds_the_four_once(app, runner):
    from app.poi.models import PoiCategory

    assert runner.invoke(args=["poi", "seed-categories"]).output == "4 categor(ies) added\n"
    assert runner.invoke(args=["poi", "seed-categories"]).output == "0 categor(ies) added\n"
    codes = db.session.scalars(select(PoiCategory.code).order_by(PoiCategory.sort)).all()
    assert codes == ["toilet", "parking", "police_kiosk", "car_wash"]


# ------------------------------------------------------------------------------------------------------ flask rq cron


def documented_schedule() -> dict[str, tuple[str, str, int, int]]:
    """name -> (job, queue, interval, timeout) from docs/deployment.md's table of periodic jobs."""
    text = (ROOT / "docs/deployment.md").read_text(encoding="utf-8").split("## The periodic jobs", 1)[1]
    rows = re.findall(r"^\| `([a-z-]+)` \| `([\w.]+)` \| (\w+) \| (\d+) \| (\d+) \|$", text, re.M)
    return {name: (job, queue, int(every), int(timeout)) for name, job, queue, every, timeout in rows}


def registered(jobs) -> dict[str, tuple[str, str, int, int]]:
    return {j["name"]: (j["func_name"], j["queue_name"], int(j["interval"]), int(j["job_timeout"])) for j in jobs}


def test_the_cron_config_registers_the_documented_schedule(app):
    from rq.cron import CronScheduler

    scheduler = CronScheduler(connection=app.extensions["redis"])
    scheduler.load_config_from_file("app.cron")
    assert len(documented_schedule()) == 11
    assert registered(job.to_dict() for job in scheduler.get_jobs()) == documented_schedule()


@pytest.mark.skipif(not REDIS_URL, reason="`flask rq cron` runs as its own process: it needs a Redis (REDIS_URL)")
def test_rq_cron_registers_its_schedule_in_redis_enqueues_each_job_and_leaves_on_sigterm(app, tmp_path):
    from rq import Queue
    from rq.cron import CronScheduler

    redis, log = app.extensions["redis"], tmp_path / "cron.log"
    with log.open("w") as out:
        proc = subprocess.Popen([*FLASK, "rq", "cron"], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                env=process_env(tmp_path, APP_ENV="testing", REDIS_URL=REDIS_URL))
    try:
        deadline, mine = time.monotonic() + 60, None
        while mine is None or not all(job.latest_enqueue_time for job in mine._cron_jobs):  # its first tick saved
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
            mine = next((s for s in CronScheduler.all(redis) if s.pid == proc.pid), None)
        jobs = [job.to_dict() for job in mine._cron_jobs]
        assert registered(jobs) == documented_schedule()
        for job in mine._cron_jobs:  # enqueued at start, next time one interval on
            assert job.next_enqueue_time - job.latest_enqueue_time == timedelta(seconds=job.interval), job.name
        queued = {}
        for name in ("default", "media", "notify"):
            for job in Queue(name, connection=redis).get_jobs():
                queued.setdefault(name, []).append(job.func_name)
        want = {}
        for func_name, queue, _, _ in documented_schedule().values():
            want.setdefault(queue, []).append(func_name)
        assert {q: sorted(f) for q, f in queued.items()} == {q: sorted(f) for q, f in want.items()}
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    assert all(s.pid != proc.pid for s in CronScheduler.all(redis))  # it registered its death


# ------------------------------------------------------------------------------------------- python3 tasks.py serve


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(tmp_path: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = process_env(tmp_path, PORT=str(port), BAIXING_VENV=sys.prefix)
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, str(ROOT / "tasks.py"), "serve"], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240
    while True:
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        try:
            if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                return proc, base
        except requests.ConnectionError:
            pass
        time.sleep(0.5)


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)  # tasks.py exec()s into `flask run`: the pid is the server's
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _instance_state() -> list[tuple[str, int, int]]:
    """Every file under the repository's instance/ with its size and modification time."""
    return sorted((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in (ROOT / "instance").rglob("*"))


@pytest.mark.slow
def test_tasks_serve_migrates_seeds_once_and_answers_on_the_embedded_defaults(tmp_path):
    before = _instance_state()
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    proc, base = _serve(tmp_path, first_log)
    try:
        page = requests.get(f"{base}/s/DEMO01", timeout=10)
        assert page.status_code == 200 and "观音桥步行街北口" in page.text
        assert requests.get(f"{base}/readyz", timeout=10).status_code == 200
    finally:
        _stop(proc)
    first = first_log.read_text()
    for line in _demo_lines()[3:]:  # the migrations seed the POI categories: the demo finds them there
        assert line.replace("poi categories: 4 (4 new)", "poi categories: 4 (0 new)") in first.splitlines(), line
    assert f"http://127.0.0.1:{base.rsplit(':', 1)[1]}/s/DEMO01" in first  # flask info, with the port it serves on

    proc, base = _serve(tmp_path, second_log)
    try:
        assert requests.get(f"{base}/s/DEMO01", timeout=10).status_code == 200
    finally:
        _stop(proc)
    second = second_log.read_text().splitlines()
    assert [line for line in second if re.search(r"\([1-9]\d* new|created", line)] == []  # a second start adds nothing
    assert "signs: 6 (0 new; open /s/DEMO01)" in second
    assert _instance_state() == before  # the repository's instance/ was not touched
    assert (tmp_path / "serve.db").exists()
