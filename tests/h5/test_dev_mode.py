"""Development mode: the app plays WeChat itself (/dev/wechat/), never outside development."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import requests
from werkzeug.serving import make_server

from app import create_app
from app.events import utcnow
from app.extensions import db
from app.reports.services import transition
from app.seed import seed_reference
from tests.conftest import make_config, reset_database
from tests.factories import actor, citizen, report


@pytest.fixture
def dev_server(tmp_path):
    """The app in development with the stand-in on, served over HTTP (threaded, as `flask run` is)."""
    app = create_app(make_config(tmp_path, APP_ENV="development", DEV_WECHAT=True, JOBS_MODE="inline",
                                 REDIS_URL=""))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    app.config.update(PUBLIC_BASE_URL=base, WECHAT_API_BASE_URL=base + "/dev/wechat/",
                      WECHAT_OAUTH_AUTHORIZE_URL=base + "/dev/wechat/authorize", WTF_CSRF_ENABLED=False)
    with app.app_context():
        reset_database()
        seed_reference()
        db.session.commit()
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield app, base
        finally:
            server.shutdown()
            db.session.remove()
            db.engine.dispose()


def test_points_login_opens_sign_in_as_a_demo_citizen_instead_of_the_real_wechat(dev_server):
    _app, base = dev_server
    s = requests.Session()
    page = s.get(base + "/points/login", timeout=10)
    assert page.url.startswith(base + "/dev/wechat/authorize") and "以演示市民身份登录" in page.text
    redirect_uri = page.url.split("redirect_uri=")[1].split("&")[0]
    state = page.text.split('name="state" value="')[1].split('"')[0]
    done = s.post(base + "/dev/wechat/authorize", data={"openid": "oDemoCitizen0001", "state": state,
                                                          "redirect_uri": requests.utils.unquote(redirect_uri)},
                  timeout=10)
    assert done.url == base + "/points/" and done.status_code == 200


def test_the_h5_pages_sign_in_through_the_stand_in_too(dev_server):
    _app, base = dev_server
    s = requests.Session()
    page = s.get(base + "/me/cases", timeout=10)
    assert "以演示市民身份登录" in page.text


def test_notifications_sent_while_serving_are_kept_and_shown_in_the_dev_page(dev_server):
    _app, base = dev_server
    person = citizen("oDemoCitizen0009")
    person.last_message_at = utcnow() - timedelta(minutes=5)  # inside the customer-service window
    db.session.commit()
    case = report(citizen_id=person.id)
    transition(case.id, "register", actor("dispatcher"))
    sent = requests.get(base + "/dev/wechat/messages.json", params={"touser": "oDemoCitizen0009"}, timeout=10).json()
    assert sent["messages"] and case.case_number in sent["messages"][0]["content"]
    assert case.case_number in requests.get(base + "/dev/wechat/", timeout=10).text


@pytest.mark.parametrize("env", ["testing", "production"])
def test_the_stand_in_is_never_mounted_outside_development(tmp_path, env):
    app = create_app(make_config(tmp_path, APP_ENV=env, DEV_WECHAT=True, SECRET_KEY="k" * 40, WECHAT_TOKEN="t",
                                 WECHAT_APP_ID="wx1", WECHAT_APP_SECRET="s"))
    assert "dev_wechat" not in app.blueprints and "dev_wechat" not in app.extensions
    assert app.config["WECHAT_API_BASE_URL"] == "https://api.weixin.qq.com/"
    with app.app_context():
        try:
            assert app.test_client().get("/dev/wechat/").status_code == 404
        finally:
            db.session.remove()
            db.engine.dispose()
