"""Every command in README.md's ```bash blocks runs verbatim on a copy of the tree, after the first one (serve).

The copy shares this checkout's .venv (so nothing is installed), has no .env and no instance/, and the commands get
an environment without APP_ENV or database settings: what a newcomer has after `python3 tasks.py serve`. The test
suite's own commands (`python3 tasks.py test …`) are what is running this; they are not started again.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
pytestmark = pytest.mark.slow


def readme_commands() -> list[str]:
    """The commands of the README's bash blocks, in order, comments dropped."""
    out = []
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        for line in block.splitlines():
            command = line.split("  #")[0].split(" # ")[0].strip()
            if command and not command.startswith("#"):
                out.append(command)
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def fresh_tree(tmp_path_factory):
    """A copy of the tree as a fresh clone has it, using this checkout's virtualenv."""
    tree = tmp_path_factory.mktemp("clone") / "baixing"
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns(
        ".venv", ".git", "instance", ".env", "print", "test-artifacts", "__pycache__", "*.egg-info", ".hypothesis",
        ".ruff_cache", ".pytest_cache", "out"))
    (tree / ".venv").symlink_to(ROOT / ".venv")
    spec = importlib.util.spec_from_file_location("tasks_of_tree", ROOT / "tasks.py")
    tasks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tasks)
    stamp = ROOT / ".venv" / ".installed-run"
    if not stamp.exists():  # the dev install holds everything `serve` needs: do not reinstall
        stamp.write_text(tasks._fingerprint("."))
    return tree


def newcomer_env(**extra) -> dict:
    """The environment of a shell that has set nothing for this project."""
    drop = {"APP_ENV", "DATABASE_URL", "REDIS_URL", "JOBS_MODE", "PUBLIC_BASE_URL", "SECRET_KEY", "DEV_WECHAT",
            "WECHAT_API_BASE_URL", "PORT", "HOST"}
    return {**{k: v for k, v in os.environ.items() if k not in drop}, **extra}


def test_the_readme_has_the_commands_this_test_runs():
    commands = readme_commands()
    assert commands[0] == "python3 tasks.py serve"
    assert ".venv/bin/flask --app wsgi:app wechat simulate" in commands
    assert "python qr_generator.py docs/samples/signs.csv --out print/" in commands


def test_every_readme_command_works_verbatim_after_serve(fresh_tree):
    port = _free_port()
    log = (fresh_tree.parent / "serve.log").open("w")
    serve = subprocess.Popen("python3 tasks.py serve", shell=True, cwd=fresh_tree, env=newcomer_env(PORT=str(port)),
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            assert serve.poll() is None, "serve stopped:\n" + (fresh_tree.parent / "serve.log").read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as res:
                    assert res.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "serve did not answer in 180 s"
                time.sleep(0.5)
        dotenv = (fresh_tree / ".env").read_text(encoding="utf-8")
        assert "APP_ENV=development" in dotenv and f"PUBLIC_BASE_URL=http://127.0.0.1:{port}" in dotenv
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/points/login", timeout=5) as res:
            assert "以演示市民身份登录" in res.read().decode()  # the stand-in, not open.weixin.qq.com
        for command in readme_commands()[1:]:
            if command.startswith(("python3 tasks.py test", "DATABASE_URL=")):
                continue  # the test suite itself
            done = subprocess.run(command, shell=True, cwd=fresh_tree, env=newcomer_env(), input="井盖没了\n/quit\n",
                                  capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, f"{command!r} failed:\n{done.stdout}\n{done.stderr}"
            if "simulate" in command:
                assert "公众号>" in done.stdout
            if "qr_generator" in command:
                assert list((fresh_tree / "print").glob("*.pdf"))
    finally:
        os.killpg(serve.pid, signal.SIGTERM)
        serve.wait(timeout=20)
        log.close()


def test_a_second_serve_says_what_exists(fresh_tree):
    seed = subprocess.run([".venv/bin/flask", "--app", "wsgi:app", "seed", "demo"], cwd=fresh_tree,
                          env=newcomer_env(), capture_output=True, text=True, timeout=120)
    assert seed.returncode == 0, seed.stderr
    assert "poi categories: 4 (0 new)" in seed.stdout and "departments:" in seed.stdout
    assert re.search(r"cases: \d+ \(0 new\)", seed.stdout)
