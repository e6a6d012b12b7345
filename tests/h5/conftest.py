"""Fixtures for the H5 pages and the JS-SDK: the fake WeChat API (tests/bot) and the demo signs (tests/poi)."""

from __future__ import annotations

from tests.bot.conftest import fake_wechat  # noqa: F401
from tests.poi.conftest import categories, demo  # noqa: F401

WECHAT_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 MicroMessenger/8.0.50"
