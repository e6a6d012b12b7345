"""Production refuses weak and published secrets: a short SECRET_KEY, or any development value from app/config.py."""

from __future__ import annotations

import pytest

from app.config import ConfigError, load_config

STRONG = {
    "APP_ENV": "production",
    "SECRET_KEY": "k" * 32,
    "WECHAT_TOKEN": "a-real-webhook-token",
    "WECHAT_APP_ID": "wx5f3a9c1d2e4b6a80",
    "WECHAT_APP_SECRET": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
}

# What app/config.py gives development and testing, and so what anyone can read on the internet.
PUBLISHED = {
    "SECRET_KEY": "dev-only-secret-key-change-me",
    "WECHAT_TOKEN": "dev-wechat-token",
    "WECHAT_APP_ID": "wxdevappid0000000",
    "WECHAT_APP_SECRET": "dev-wechat-secret",
}


def test_production_starts_with_strong_secrets():
    assert load_config(STRONG)["SECRET_KEY"] == "k" * 32


@pytest.mark.parametrize("key", ["", "short", "k" * 31, "密钥" * 5])  # "密钥"*5 is 10 characters, 30 bytes
def test_production_refuses_a_secret_key_shorter_than_32_bytes(key):
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config({**STRONG, "SECRET_KEY": key})


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_production_refuses_the_published_development_value_of_every_secret(name):
    with pytest.raises(ConfigError, match=name):
        load_config({**STRONG, name: PUBLISHED[name]})


def test_production_refuses_a_development_value_given_to_another_secret():
    for name in ("METRICS_TOKEN", "WECHAT_ENCODING_AES_KEY"):
        with pytest.raises(ConfigError, match=name):
            load_config({**STRONG, name: "dev-wechat-token"})
    with pytest.raises(ConfigError, match="OPEN311_API_KEYS"):
        load_config({**STRONG, "OPEN311_API_KEYS": ["a-good-key-of-some-length", "dev-wechat-secret"]})


def test_development_keeps_its_defaults():
    cfg = load_config({"APP_ENV": "development"})
    assert cfg["SECRET_KEY"] == PUBLISHED["SECRET_KEY"] and cfg["WECHAT_TOKEN"] == PUBLISHED["WECHAT_TOKEN"]
