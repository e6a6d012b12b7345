"""Bot fixtures: the fake WeChat API server, the app configured for it, and a citizen's phone over real HTTP."""

from __future__ import annotations

import itertools

import pytest

from app.bot.fake_wechat import FakeWeChat
from app.extensions import db
from tests.bot.wechat_wire import AES_KEY, APP_ID, TOKEN, Citizen, WeChat

GUANYINQIAO_GCJ = (29.57240, 106.53556)  # what WeChat's map gives for a spot in 观音桥 (GCJ-02)
_openids = itertools.count(1)


@pytest.fixture
def fake_wechat(app):
    """A fake WeChat API on 127.0.0.1; the app reaches it through WECHAT_API_BASE_URL."""
    fake = FakeWeChat(appid=APP_ID, secret=app.config["WECHAT_APP_SECRET"]).start()
    app.config.update(
        WECHAT_API_BASE_URL=fake.base_url,
        WECHAT_APP_ID=APP_ID,
        WECHAT_TOKEN=TOKEN,
        WECHAT_ENCODING_AES_KEY=AES_KEY,
        WECHAT_HTTP_TIMEOUT_S=2.0,
        WECHAT_MESSAGE_MODE="compatible",  # the tests push in all three modes; the modes' own tests change it
    )
    yield fake
    fake.stop()


@pytest.fixture
def wechat(fake_wechat, live_server):
    """WeChat pushing to the live server in plain mode."""
    return WeChat(live_server)


@pytest.fixture
def make_citizen(wechat, fake_wechat):
    """A new citizen's phone (pass mode= for compatible or safe mode)."""

    def make(mode: str = "plain", openid: str | None = None) -> Citizen:
        w = wechat if mode == "plain" else WeChat(wechat.url.removesuffix("/wechat"), mode=mode)
        return Citizen(w, openid or f"oCitizen{next(_openids):06d}", fake_wechat)

    return make


@pytest.fixture
def fuzz_app(app, fake_wechat):
    """The app configured for WeChat (token, AppID, AES key, the fake API), for in-process fuzzing."""
    db.session.commit()
    return app
