"""Deploy conventions: the Procfile's web process listens on $PORT (platforms set it), systemd keeps GUNICORN_BIND,
and deploy/ holds no untested compose file."""

from __future__ import annotations

import os
import runpy
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _procfile() -> dict[str, str]:
    lines = (ROOT / "deploy" / "Procfile").read_text(encoding="utf-8").splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip() and not line.startswith("#"))


def test_the_procfile_web_process_serves_on_port(tmp_path):
    port = _free_port()
    env = {**os.environ, "PORT": str(port), "APP_ENV": "development", "WEB_CONCURRENCY": "1",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'web.db'}", "REDIS_URL": "", "GUNICORN_PRELOAD": "0",
           "GUNICORN_BIND": "127.0.0.1:1",  # set for systemd on this host: the platform's $PORT must still win
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"), "PATH": f"{BIN}:{os.environ['PATH']}"}
    proc = subprocess.Popen(["sh", "-c", _procfile()["web"]], cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
                break
            except (requests.ConnectionError, requests.Timeout):
                assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
                assert time.monotonic() < deadline, "gunicorn did not listen on $PORT"
                time.sleep(0.3)
        assert response.status_code == 200 and response.json() == {"status": "ok"}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
        proc.stderr.close()


def test_gunicorn_bind_stays_for_systemd(monkeypatch):
    monkeypatch.setenv("GUNICORN_BIND", "127.0.0.1:8123")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "/tmp/baixing-prom-test")
    assert runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))["bind"] == "127.0.0.1:8123"
    unit = (ROOT / "deploy" / "systemd" / "baixing-web.service").read_text(encoding="utf-8")
    assert "--bind" not in unit and "gunicorn -c deploy/gunicorn.conf.py wsgi:app" in unit


def test_deploy_holds_no_untested_compose_file():
    assert not list((ROOT / "deploy").glob("*compose*"))
    assert "no Docker engine" in (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
