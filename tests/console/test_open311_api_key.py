"""Open311 api_key: compared in constant time against every configured key, odd input is a 403 (never a 500)."""

from __future__ import annotations

import hmac

import pytest

from tests.factories import GUANYINQIAO

KEYS = ["key-for-the-city-platform", "key-for-the-12345-hotline"]
V2 = "/open311/v2"


@pytest.fixture(autouse=True)
def open311_keys(app):
    app.config["OPEN311_API_KEYS"] = list(KEYS)


def _post(client, api_key):
    return client.post(f"{V2}/requests.json", data={
        "api_key": api_key, "service_code": "E0504", "lat": str(GUANYINQIAO[0]), "long": str(GUANYINQIAO[1]),
        "description": "路口有人摆摊卖水果"})


def test_the_api_key_is_compared_with_compare_digest_against_every_configured_key(client, monkeypatch):
    compared = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: compared.append((a, b)) or real(a, b))
    assert _post(client, "key-for-the-city-platforX").status_code == 403
    assert len(compared) == len(KEYS)  # no early exit on the first key, no `in` on a list
    compared.clear()
    assert _post(client, KEYS[0]).status_code == 201
    assert len(compared) == len(KEYS)


@pytest.mark.parametrize("api_key", ["钥匙", "key-for-the-city-platform\u00e9", "\x00"])
def test_a_non_ascii_or_control_character_api_key_is_a_403(client, api_key):
    assert _post(client, api_key).status_code == 403
