"""The JS-SDK done for real: one shared jsapi_ticket, fetched through the WeChat client, and pages signed exactly."""

from __future__ import annotations

import hashlib
import threading

import pytest
from sqlalchemy import select

from app import create_app
from app.bot.client import get_client
from app.bot.jssdk import jsapi_signature, jsapi_ticket, page_config, refresh_jsapi_ticket_job, ticket_key
from app.extensions import db
from app.geo import from_wgs84
from app.poi.models import Sign
from app.poi.services import nearest_by_category
from tests.conftest import make_config
from tests.h5.conftest import WECHAT_UA


def independent_signature(ticket: str, noncestr: str, timestamp, url: str) -> str:
    """WeChat's algorithm written out by hand, to check ours against."""
    raw = f"jsapi_ticket={ticket}&noncestr={noncestr}&timestamp={timestamp}&url={url}"
    return hashlib.sha1(raw.encode()).hexdigest()


def test_the_signature_matches_wechats_published_example():
    ticket = "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg"
    got = jsapi_signature(ticket, "Wm3WZYTPz0wzccnW", 1414587457, "http://mp.weixin.qq.com?params=value")
    assert got == "0f9de62fce790f9a083d5c99e95740ceb90c27ed"


def test_the_ticket_is_fetched_once_for_many_parallel_pages_and_kept_in_redis_with_its_lifetime(app, fake_wechat):
    results, errors = [], []

    def sign():
        with app.app_context():
            try:
                results.append(page_config(app.config["PUBLIC_BASE_URL"] + "/s/DEMO01"))
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

    threads = [threading.Thread(target=sign) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 8 and all(results)
    assert len(fake_wechat.sent("cgi-bin/ticket/getticket")) == 1
    redis = app.extensions["redis"]
    assert redis.get(ticket_key(app.config["WECHAT_APP_ID"])).decode() == fake_wechat.tickets[0]
    assert 7200 - 300 - 5 <= redis.ttl(ticket_key(app.config["WECHAT_APP_ID"])) <= 7200 - 300


def test_a_page_is_signed_for_its_exact_url_without_the_fragment(app, client, fake_wechat):
    base = app.config["PUBLIC_BASE_URL"]
    url = f"{base}/s/DEMO01?from=timeline&isappinstalled=0"
    res = client.get("/api/poi/jssdk-config", query_string={"url": url + "#wechat_redirect"})
    assert res.status_code == 200
    c = res.get_json()
    assert c["appId"] == app.config["WECHAT_APP_ID"] and len(c["nonceStr"]) >= 12
    assert c["signature"] == independent_signature(fake_wechat.tickets[0], c["nonceStr"], c["timestamp"], url)


def test_the_refresher_replaces_the_ticket_before_it_runs_out_and_leaves_a_fresh_one_alone(app, fake_wechat):
    first = jsapi_ticket()
    assert refresh_jsapi_ticket_job() == "valid" and jsapi_ticket() == first
    redis = app.extensions["redis"]
    redis.expire(ticket_key(app.config["WECHAT_APP_ID"]), 600)  # ten minutes left: time to replace it
    assert refresh_jsapi_ticket_job() == "refreshed"
    assert jsapi_ticket() == fake_wechat.tickets[-1] != first
    assert len(fake_wechat.tickets) == 2


def test_a_stale_access_token_is_refreshed_once_and_the_ticket_still_comes(app, fake_wechat):
    get_client().fetch_access_token()
    fake_wechat.invalidate_tokens()
    assert jsapi_ticket() == fake_wechat.tickets[0]


def test_wechat_not_answering_gives_a_503_within_the_timeout_and_the_page_falls_back(app, client, fake_wechat):
    app.config["WECHAT_HTTP_TIMEOUT_S"] = 0.5
    get_client().fetch_access_token()
    fake_wechat.fail_next("cgi-bin/ticket/getticket", "timeout")
    res = client.get("/api/poi/jssdk-config", query_string={"url": app.config["PUBLIC_BASE_URL"] + "/report"})
    assert res.status_code == 503 and res.get_json()["error"] == "service_unavailable"
    fake_wechat.fail_next("cgi-bin/ticket/getticket", 40164)
    assert client.get("/api/poi/jssdk-config",
                      query_string={"url": app.config["PUBLIC_BASE_URL"] + "/report"}).status_code == 503
    assert not app.extensions["redis"].exists(ticket_key(app.config["WECHAT_APP_ID"]))  # nothing wrong was kept


@pytest.mark.parametrize("url", ["https://evil.example/s/DEMO01", "http://127.0.0.1:5000.evil.example/s/x",
                                 "http://127.0.0.1:5000/console/", "http://127.0.0.1:5000/s/" + "x" * 3000, ""])
def test_only_our_own_pages_are_signed(client, fake_wechat, url):
    assert client.get("/api/poi/jssdk-config", query_string={"url": url}).status_code == 400
    assert not fake_wechat.sent("cgi-bin/ticket/getticket")


def test_without_an_official_account_there_is_no_signer_and_no_script(tmp_path, demo):
    db.session.commit()
    bare = create_app(make_config(tmp_path, WECHAT_APP_ID=""))
    with bare.app_context():
        try:
            c = bare.test_client()
            assert c.get("/api/poi/jssdk-config?url=x").status_code == 404
            assert "jweixin" not in c.get("/s/DEMO01", headers={"User-Agent": WECHAT_UA}).get_data(as_text=True)
        finally:
            db.session.remove()
            db.engine.dispose()  # its own pool: close it, do not leave connections to the garbage collector


def test_inside_wechat_the_sign_page_offers_wechats_own_map_in_gcj02_and_others_get_no_script(client, demo,
                                                                                              fake_wechat):
    html = client.get("/s/DEMO01", headers={"User-Agent": WECHAT_UA}).get_data(as_text=True)
    assert "jweixin-1.6.0.js" in html and '<script src="/static/poi/wechat-nav.js">' in html  # no inline script (CSP)
    script = client.get("/static/poi/wechat-nav.js")
    assert "wx.openLocation" in script.get_data(as_text=True)
    script.close()
    s = db.session.scalar(select(Sign).where(Sign.code == "DEMO01"))
    first = nearest_by_category(s.lat, s.lng)[0][1][0]
    gcj = from_wgs84(first.lat, first.lng, "gcj02")
    assert f'data-poi-id="{first.id}"' in html and f'data-gcj="{gcj[0]:.6f},{gcj[1]:.6f}"' in html
    assert "<script" not in client.get("/s/DEMO01").get_data(as_text=True)
