"""Settings: production refuses to start without each secret; every setting is documented, every documented one read."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app import create_app
from app.config import ConfigError, load_config
from tests.conftest import make_config

ROOT = Path(__file__).resolve().parent.parent
SECRETS = ("SECRET_KEY", "WECHAT_TOKEN", "WECHAT_APP_ID", "WECHAT_APP_SECRET")
# Keys of app.config that are not environment settings: Flask's and its extensions' own, derived ones, and a
# migrations directory only tests pass.
NOT_SETTINGS = {"TESTING", "SQLALCHEMY_DATABASE_URI", "SQLALCHEMY_ENGINE_OPTIONS", "SESSION_COOKIE_HTTPONLY",
                "SESSION_COOKIE_SAMESITE", "SESSION_COOKIE_SECURE", "WTF_CSRF_FIELD_NAME", "MIGRATIONS_DIR"}
# Read from the environment outside app/config.py (the placard tool, gunicorn's config file).
READ_ELSEWHERE = ("qr_generator.py", "deploy/gunicorn.conf.py", "app/observability.py", "tasks.py")


@pytest.fixture
def no_secrets_in_env(monkeypatch):
    for name in (*SECRETS, "APP_ENV"):
        monkeypatch.delenv(name, raising=False)


PRODUCTION_KEY = "k" * 40  # production refuses a SECRET_KEY shorter than 32 bytes


def production(tmp_path, **secrets) -> dict:
    values = {"SECRET_KEY": PRODUCTION_KEY, "WECHAT_TOKEN": "t", "WECHAT_APP_ID": "wx1", "WECHAT_APP_SECRET": "s",
              **secrets}
    return make_config(tmp_path, APP_ENV="production", **values)


@pytest.mark.parametrize("missing", SECRETS)
def test_production_refuses_to_start_without_each_secret(tmp_path, no_secrets_in_env, missing):
    with pytest.raises(ConfigError) as refused:
        create_app(production(tmp_path, **{missing: ""}))
    assert str(refused.value) == f"missing required settings: {missing} (see docs/configuration.md)"


def test_production_names_every_missing_secret_at_once(tmp_path, no_secrets_in_env):
    with pytest.raises(ConfigError, match="missing required settings: SECRET_KEY, WECHAT_TOKEN, WECHAT_APP_ID, "
                                          "WECHAT_APP_SECRET "):
        create_app(production(tmp_path, **dict.fromkeys(SECRETS, "")))


def test_production_starts_with_its_secrets_and_no_development_defaults(tmp_path, no_secrets_in_env):
    app = create_app(production(tmp_path))
    assert app.config["SECRET_KEY"] == PRODUCTION_KEY and app.config["APP_ENV"] == "production"
    assert app.config["LOG_FORMAT"] == "json" and app.config["SESSION_COOKIE_SECURE"] is True


def test_development_fills_in_the_secrets(tmp_path, no_secrets_in_env):
    cfg = load_config({"APP_ENV": "development"})
    assert all(cfg[name] for name in SECRETS)


def test_a_setting_that_must_be_a_number_refuses_other_text(monkeypatch):
    monkeypatch.setenv("POINTS_DAILY_CAP", "fifty")
    with pytest.raises(ConfigError, match="POINTS_DAILY_CAP must be an integer, got 'fifty'"):
        load_config({"APP_ENV": "testing"})


# ------------------------------------------------------------------------------------- settings against their docs


def _documented() -> set[str]:
    """The variables docs/configuration.md names in its tables' first column and in its deployment-only list."""
    text = (ROOT / "docs/configuration.md").read_text(encoding="utf-8")
    names = set()
    for line in text.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1]))
    deploy_only = text.split("## Deployment-only", 1)[1]
    names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", deploy_only))
    return names


def _read_from_environment() -> set[str]:
    """Every environment variable app/config.py reads (through _env, _flag, _int, _float or secret)."""
    source = (ROOT / "app/config.py").read_text(encoding="utf-8")
    return set(re.findall(r'(?:_env|_flag|_int|_float|secret)\(\s*"([A-Z][A-Z0-9_]+)"', source))


def test_every_setting_in_app_config_is_documented_in_configuration_md():
    undocumented = _read_from_environment() - _documented()
    assert not undocumented, f"document these in docs/configuration.md: {sorted(undocumented)}"


def test_every_documented_setting_is_read_somewhere():
    elsewhere = "".join((ROOT / path).read_text(encoding="utf-8") for path in READ_ELSEWHERE)
    unread = {name for name in _documented() - _read_from_environment() if f'"{name}"' not in elsewhere}
    assert not unread, f"documented but never read: {sorted(unread)}"


def test_every_setting_the_code_reads_is_declared_in_app_config():
    declared = set(load_config({"APP_ENV": "testing"})) | NOT_SETTINGS
    used = set()
    for path in (ROOT / "app").rglob("*.py"):
        used.update(re.findall(r'config(?:\.get\(|\[)["\']([A-Z][A-Z0-9_]+)["\']', path.read_text(encoding="utf-8")))
    assert used - declared == set(), "read by the app but not declared in app/config.py"
