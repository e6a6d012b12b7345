"""Mini-program fixtures: the fake WeChat API (code2Session, subscribe messages) and a logged-in mini-program."""

from __future__ import annotations

import io
import itertools
import uuid

import pytest

from tests.bot.conftest import fake_wechat  # noqa: F401
from tests.poi.conftest import categories, demo  # noqa: F401

GUANYINQIAO_GCJ = (29.57240, 106.53556)  # what wx.getLocation({type: "gcj02"}) gives in 观音桥
_ids = itertools.count(1)


class MiniProgram:
    """A mini-program user's phone: wx.login → /api/mp/login, then calls with the bearer token."""

    def __init__(self, client, fake, mp_openid: str | None = None, unionid: str | None = None):
        self.client, self.fake = client, fake
        self.mp_openid = mp_openid or f"oMp{next(_ids):08d}"
        self.unionid = unionid
        self.token: str | None = None

    def login(self):
        res = self.client.post("/api/mp/login", json={"code": self.fake.add_mp_code(self.mp_openid, self.unionid)})
        assert res.status_code == 200, res.get_json()
        self.token = res.get_json()["token"]
        return res

    def headers(self, **extra) -> dict:
        return {"Authorization": f"Bearer {self.token}", **extra}

    def get(self, path: str, **kw):
        return self.client.get(path, headers=self.headers(), **kw)

    def report(self, description="人行道井盖没了，很危险", lat=GUANYINQIAO_GCJ[0], lng=GUANYINQIAO_GCJ[1], photos=(),
               key: str | None = None, **fields):
        data = {"description": description, "lat": str(lat), "lng": str(lng), "crs": "gcj02", **fields}
        data["photo"] = [(io.BytesIO(p), f"p{i}.jpg", "image/jpeg") for i, p in enumerate(photos)]
        return self.client.post("/api/mp/reports", data=data, content_type="multipart/form-data",
                                headers=self.headers(**{"Idempotency-Key": key or uuid.uuid4().hex}))


@pytest.fixture
def mini(client, fake_wechat):  # noqa: F811
    """Make a mini-program user (logged in unless login=False)."""

    def make(mp_openid: str | None = None, unionid: str | None = None, login: bool = True) -> MiniProgram:
        phone = MiniProgram(client, fake_wechat, mp_openid, unionid)
        if login:
            phone.login()
        return phone

    return make
