"""Staff bind WeChat from the console by OAuth (through the fake WeChat API) and get 督办 by template message: once
per inbox entry whatever the retries; unbinding stops it; forged OAuth states and taken openids are refused."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from app.bot.staff_notify import send_staff_wechat
from app.citizens.models import StaffNotification, StaffUser
from app.extensions import db
from app.reports.services import transition
from app.reports.supervision import supervise, sweep_deadlines
from tests.factories import actor, department_id, report

PASSWORD = "handler-pass-123"


@pytest.fixture
def handler(app):
    user = StaffUser(
        username="gyq-handler",
        role="handler",
        department_id=department_id("JB-S-GYQ"),
        display_name="观音桥处置员",
        password_hash=generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000"),
    )
    db.session.add(user)
    db.session.commit()
    return user


def logged_in(app, username="gyq-handler"):
    c = app.test_client()
    page = c.get("/console/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert (
        c.post("/console/login", data={"username": username, "password": PASSWORD, "csrf_token": token}).status_code
        == 302
    )
    return c


def bind(client, fake_wechat, openid):
    start = client.get("/console/me/wechat/bind")
    assert start.status_code == 302 and start.location.startswith("https://open.weixin.qq.com/connect/oauth2/authorize")
    state = parse_qs(urlsplit(start.location).query)["state"][0]
    return client.get(f"/console/me/wechat/callback?state={state}&code={fake_wechat.add_oauth_code(openid)}")


def dispatched():
    r = report("观音桥路口有人摆摊", category_code="E0504")
    transition(r.id, "register", actor("dispatcher"))
    return transition(r.id, "dispatch", actor("dispatcher"), department_code="JB-S-GYQ")


def test_a_bound_handler_gets_the_escalation_as_one_template_message(app, handler, fake_wechat, run_jobs):
    app.config["WECHAT_STAFF_TEMPLATE_ID"] = "TPL_STAFF"
    c = logged_in(app)
    assert bind(c, fake_wechat, "oStaffHandler01").status_code == 302
    assert "已绑定微信" in c.get("/console/me").get_data(as_text=True)
    r = dispatched()
    sweep_deadlines(now=r.deadline_at + timedelta(minutes=1))
    run_jobs()
    [sent] = fake_wechat.messages_to("oStaffHandler01")
    assert sent["template_id"] == "TPL_STAFF" and r.case_number in sent["data"]["first"]["value"]
    assert sent["url"].endswith(f"/console/cases/{r.id}")
    row = db.session.scalar(select(StaffNotification))
    assert row.wechat_status == "sent"
    row_id = row.id
    db.session.commit()  # end the test's transaction (and touch no row after it): SQLite lets one writer at a time
    assert send_staff_wechat(row_id) == "already"  # a retried job sends nothing more
    assert len(fake_wechat.messages_to("oStaffHandler01")) == 1


def test_a_wechat_error_is_recorded_and_the_retry_sends_once(app, handler, fake_wechat, run_jobs):
    app.config["WECHAT_STAFF_TEMPLATE_ID"] = "TPL_STAFF"
    bind(logged_in(app), fake_wechat, "oStaffHandler02")
    fake_wechat.fail_next("cgi-bin/message/template/send", 45009)
    supervise(dispatched().id, actor("supervisor"), "请尽快处置")
    run_jobs()
    row = db.session.scalar(select(StaffNotification))
    db.session.refresh(row)
    if row.wechat_status == "failed":  # the retry comes later (rq backoff): run it now, as rq would
        assert "45009" in row.wechat_error
        row_id = row.id
        db.session.commit()
        assert send_staff_wechat(row_id) == "sent"
    assert len(fake_wechat.messages_to("oStaffHandler02")) == 1


def test_without_a_binding_or_template_the_entry_stays_in_the_inbox_only(app, handler, fake_wechat, run_jobs):
    bind(logged_in(app), fake_wechat, "oStaffHandler03")  # bound, but no template configured
    supervise(dispatched().id, actor("supervisor"), "请尽快处置")
    run_jobs()
    row = db.session.scalar(select(StaffNotification))
    assert row.wechat_status == "undelivered" and fake_wechat.messages_to("oStaffHandler03") == []


def test_unbinding_stops_the_messages(app, handler, fake_wechat, run_jobs):
    app.config["WECHAT_STAFF_TEMPLATE_ID"] = "TPL_STAFF"
    c = logged_in(app)
    bind(c, fake_wechat, "oStaffHandler04")
    page = c.get("/console/me").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert c.post("/console/me/wechat/unbind", data={"csrf_token": token}).status_code == 302
    assert c.post("/console/me/wechat/unbind").status_code == 400  # no CSRF token: refused
    supervise(dispatched().id, actor("supervisor"), "请尽快处置")
    run_jobs()
    assert db.session.get(StaffUser, handler.id).wechat_openid is None
    assert fake_wechat.messages_to("oStaffHandler04") == []
    assert db.session.scalar(select(StaffNotification)).wechat_status is None


def test_a_forged_state_an_unknown_code_and_a_taken_openid_are_refused(app, handler, fake_wechat):
    c = logged_in(app)
    c.get("/console/me/wechat/bind")
    assert c.get("/console/me/wechat/callback?state=forged&code=x").status_code == 400
    start = c.get("/console/me/wechat/bind")
    state = parse_qs(urlsplit(start.location).query)["state"][0]
    assert c.get(f"/console/me/wechat/callback?state={state}&code=CODE_unknown").status_code == 502
    other = StaffUser(username="other", role="dispatcher", password_hash="x", wechat_openid="oTaken")
    db.session.add(other)
    db.session.commit()
    answer = bind(c, fake_wechat, "oTaken")
    assert answer.status_code == 302
    assert db.session.get(StaffUser, handler.id).wechat_openid is None
    assert "已绑定到其他" in c.get("/console/me").get_data(as_text=True)
    assert app.test_client().get("/console/me/wechat/callback?state=x&code=y").status_code == 302  # to login
