#!/usr/bin/env python3
"""The project's two entry points for a fresh machine (only Python 3.11+ needed).

    python3 tasks.py serve   # install, migrate, load demo data, start on the embedded defaults
    python3 tasks.py test    # install (with test tools) and run the whole test suite

Both create ./.venv on first use and install the pinned dependencies into it; later runs reuse it and
only reinstall when pyproject.toml or requirements.lock changed. Standard library only: this file runs
before anything is installed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("BAIXING_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"


def _fingerprint(extras: str) -> str:
    """Hash of what decides the install, so a changed pin triggers a reinstall."""
    h = hashlib.sha256(extras.encode())
    for name in ("pyproject.toml", "requirements.lock"):
        path = ROOT / name
        if path.exists():
            h.update(path.read_bytes())
    return h.hexdigest()


def ensure_env(dev: bool) -> None:
    """Create the virtualenv and install the project (and test tools when dev) if not done yet."""
    if sys.version_info < (3, 11):
        sys.exit("Python 3.11 or newer is needed (found %s)." % sys.version.split()[0])
    extras = ".[dev]" if dev else "."
    stamp = VENV / f".installed-{'dev' if dev else 'run'}"
    want = _fingerprint(extras)
    if stamp.exists() and stamp.read_text() == want and PY.exists():
        return
    if not PY.exists():
        print(f"creating virtualenv in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    pip = [str(PY), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    lock = ["-c", str(ROOT / "requirements.lock")] if (ROOT / "requirements.lock").exists() else []
    print(f"installing {extras} (pinned) ...", flush=True)
    subprocess.run([*pip, *lock, "-e", extras], check=True, cwd=ROOT)
    stamp.write_text(want)


def flask(*args: str, env: dict | None = None) -> None:
    """Run a flask CLI command inside the virtualenv."""
    subprocess.run([str(BIN / "flask"), "--app", "wsgi:app", *args], check=True, cwd=ROOT, env=env)


DOTENV = ROOT / ".env"
DOTENV_MARK = "# written by `python3 tasks.py serve`; delete it or write your own (yours is never overwritten)"


def write_dotenv(values: dict[str, str]) -> None:
    """Keep the development settings in .env (gitignored), which Flask's CLI and qr_generator.py load, so the other
    commands of the README find them. A .env the developer wrote is left alone."""
    if DOTENV.exists() and not DOTENV.read_text(encoding="utf-8").startswith(DOTENV_MARK):
        return
    lines = [DOTENV_MARK, *(f"{k}={v}" for k, v in values.items())]
    DOTENV.write_text("\n".join(lines) + "\n", encoding="utf-8")


def serve(argv: list[str]) -> None:
    """Install, upgrade the database, load demo data and run the development server."""
    ensure_env(dev=False)
    env = dict(os.environ)
    env.setdefault("APP_ENV", "development")
    host = env.get("HOST", "127.0.0.1")
    port = env.get("PORT", "5000")
    if env["APP_ENV"] == "development":
        # Links and printed QR codes follow HOST/PORT; WeChat is played by the app itself (/dev/wechat/).
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 (a listen address, not a bind)
        env.setdefault("PUBLIC_BASE_URL", f"http://{shown}:{port}")
        env.setdefault("DEV_WECHAT", "1")
        write_dotenv({k: env[k] for k in ("APP_ENV", "PUBLIC_BASE_URL", "DEV_WECHAT")})
    flask("db", "upgrade", env=env)
    flask("seed", "demo", env=env)
    flask("info", "--host", host, "--port", port, env=env)
    os.execve(
        str(BIN / "flask"), [str(BIN / "flask"), "--app", "wsgi:app", "run", "--host", host, "--port", port, *argv], env
    )


def test(argv: list[str]) -> None:
    """Install with test tools and run pytest (extra arguments go to pytest)."""
    ensure_env(dev=True)
    env = dict(os.environ)
    env.setdefault("APP_ENV", "testing")
    os.execve(str(PY), [str(PY), "-m", "pytest", *argv], env)


def main() -> None:
    """Dispatch to the sub-command."""
    if len(sys.argv) < 2 or sys.argv[1] not in {"serve", "test", "install"}:
        sys.exit(__doc__)
    cmd, rest = sys.argv[1], sys.argv[2:]
    os.chdir(ROOT)
    if cmd == "serve":
        serve(rest)
    elif cmd == "test":
        test(rest)
    else:
        ensure_env(dev="--dev" in rest)


if __name__ == "__main__":
    main()
