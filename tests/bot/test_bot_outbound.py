"""Outbound through the fake WeChat API: photo downloads, notifications (window, template, undelivered, at most
once), the shared access token, the menu, OAuth for the H5 pages and the simulator."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.bot.client import get_client
from app.bot.models import OutboundMessage
from app.citizens.models import Citizen as CitizenRow
from app.events import OutboxEvent, PointsAwarded, emit, run_subscriber, utcnow
from app.extensions import db
from app.reports.models import Report
from app.reports.services import transition
from tests.bot.conftest import GUANYINQIAO_GCJ
from tests.bot.test_bot_dialogue import case_of, photos_of
from tests.factories import actor, jpeg_bytes

DISPATCHER = actor("dispatcher")


def reported_case(c) -> Report:
    c.photo()
    c.location(*GUANYINQIAO_GCJ)
    return case_of(c.text("井盖缺失"))


def outbound(report_id: int) -> list[OutboundMessage]:
    rows = db.session.scalars(select(OutboundMessage).where(OutboundMessage.report_id == report_id)).all()
    db.session.commit()
    return rows


def set_last_message(openid: str, hours_ago: float) -> None:
    row = db.session.scalar(select(CitizenRow).where(CitizenRow.openid == openid))
    row.last_message_at = utcnow() - timedelta(hours=hours_ago)
    db.session.commit()


def texts_to(fake, openid: str) -> list[str]:
    return [(b.get("text") or {}).get("content") or b["data"]["first"]["value"] for b in fake.messages_to(openid)]


# ----------------------------------------------------------------------------------------------- photos


def test_an_expired_medium_marks_the_photo_missing_and_the_case_goes_on(make_citizen, fake_wechat, run_jobs):
    c = make_citizen()
    good = fake_wechat.add_media(jpeg_bytes())
    gone = fake_wechat.add_media(jpeg_bytes())
    fake_wechat.expire_media(gone)
    c.photo(media_id=good)
    c.photo(media_id=gone)
    c.location(*GUANYINQIAO_GCJ)
    report = case_of(c.text("井盖缺失"))
    run_jobs()
    statuses = {ref.split(":", 1)[1]: (status, reason) for status, ref, reason in photos_of(report.id)}
    assert statuses[good] == ("stored", None)
    assert statuses[gone][0] == "missing" and "过期" in statuses[gone][1]
    assert db.session.get(Report, report.id).status == "reported"


def test_a_medium_that_is_not_an_image_is_marked_missing_with_the_reason(make_citizen, fake_wechat, run_jobs):
    c = make_citizen()
    c.photo(media_id=fake_wechat.add_media(b"<html>not a photo</html>", "image/jpeg"))
    c.location(*GUANYINQIAO_GCJ)
    report = case_of(c.text("井盖缺失"))
    run_jobs()
    [(status, _ref, reason)] = photos_of(report.id)
    assert status == "missing" and "图片" in reason


def test_a_failing_download_on_its_last_try_marks_the_photo_missing(app, make_citizen, fake_wechat, run_jobs):
    from app.bot.tasks import download_photo

    c = make_citizen()
    fake_wechat.fail_next("cgi-bin/media/get", *([-1] * 10))
    c.photo()
    c.location(*GUANYINQIAO_GCJ)
    report = case_of(c.text("井盖缺失"))
    photo_id = db.session.get(Report, report.id).photos[0].id
    db.session.commit()
    if app.config["JOBS_MODE"] == "rq":
        download_photo(photo_id)  # outside rq: no retries left, as on the last try
    [(status, _ref, reason)] = photos_of(report.id)
    assert status == "missing" and "下载失败" in reason


# ----------------------------------------------------------------------------------------------- notifications


def test_a_status_change_inside_the_window_is_sent_as_a_customer_service_message_once(
    make_citizen, fake_wechat, run_jobs
):
    c = make_citizen()
    report = reported_case(c)
    transition(report.id, "register", DISPATCHER)
    run_jobs()
    assert texts_to(fake_wechat, c.openid) == [f"您举报的案件 {report.case_number} 已立案，正在安排处理。"]
    [row] = outbound(report.id)
    assert row.status == "sent" and row.channel == "custom"
    row_id = row.id
    # the subscriber runs again (a retry, a sweep) and the send job too: still one message
    from app.bot.notify import on_report_status_changed, send_outbound
    from app.events import ReportStatusChanged

    payload = db.session.scalar(select(OutboxEvent.payload).where(OutboxEvent.name == "ReportStatusChanged"))
    on_report_status_changed(ReportStatusChanged(**payload))
    db.session.commit()
    assert send_outbound(row_id) == "already"
    run_jobs()
    assert len(fake_wechat.messages_to(c.openid)) == 1 and len(outbound(report.id)) == 1


def test_dispatch_names_the_department(make_citizen, fake_wechat, run_jobs):
    c = make_citizen()
    report = reported_case(c)
    transition(report.id, "register", DISPATCHER)
    transition(report.id, "dispatch", DISPATCHER)
    run_jobs()
    assert "已派给" in texts_to(fake_wechat, c.openid)[-1]


def test_outside_the_window_a_template_message_is_sent_when_configured(app, make_citizen, fake_wechat, run_jobs):
    app.config["WECHAT_TEMPLATE_ID"] = "TPL_STATUS"
    c = make_citizen()
    report = reported_case(c)
    set_last_message(c.openid, 49)
    transition(report.id, "register", DISPATCHER)
    run_jobs()
    [sent] = fake_wechat.sent("cgi-bin/message/template/send")
    assert sent.body["template_id"] == "TPL_STATUS" and sent.body["data"]["keyword1"]["value"] == report.case_number
    assert not fake_wechat.sent("cgi-bin/message/custom/send")
    assert outbound(report.id)[0].channel == "template"


def test_without_a_template_it_is_recorded_undelivered_and_shown_in_my_reports(make_citizen, fake_wechat, run_jobs):
    c = make_citizen()
    report = reported_case(c)
    set_last_message(c.openid, 49)
    transition(report.id, "register", DISPATCHER)
    run_jobs()
    [row] = outbound(report.id)
    assert row.status == "undelivered" and fake_wechat.messages_to(c.openid) == []
    assert "未能及时通知您的进展：您举报的案件" in c.text("我的举报")


def test_45015_from_wechat_falls_back_to_the_template_or_undelivered(app, make_citizen, fake_wechat, run_jobs):
    c = make_citizen()
    report = reported_case(c)
    fake_wechat.outside_window.add(c.openid)
    transition(report.id, "register", DISPATCHER)
    run_jobs()
    [row] = outbound(report.id)
    assert row.status == "undelivered" and row.error.startswith("45015")
    app.config["WECHAT_TEMPLATE_ID"] = "TPL"
    transition(report.id, "cancel", DISPATCHER, note="重复举报", cancel_reason="duplicate")
    run_jobs()
    assert [r.channel for r in outbound(report.id)] == [None, "template"]


def test_a_stale_token_is_refreshed_once_and_the_message_still_goes(make_citizen, fake_wechat, run_jobs):
    c = make_citizen()
    report = reported_case(c)
    get_client().access_token  # noqa: B018 (fetch and cache the token)
    fetches = fake_wechat.token_fetches
    fake_wechat.invalidate_tokens()
    transition(report.id, "register", DISPATCHER)
    run_jobs()
    assert len(fake_wechat.messages_to(c.openid)) == 1
    assert fake_wechat.token_fetches == fetches + 1
    assert fake_wechat.sent("cgi-bin/stable_token")[-1].body["force_refresh"] is True


def test_a_timeout_is_recorded_and_not_retried_so_nothing_is_sent_twice(app, make_citizen, fake_wechat, run_jobs):
    app.config["WECHAT_HTTP_TIMEOUT_S"] = 0.3
    fake_wechat.timeout_sleep_s = 0.6
    c = make_citizen()
    report = reported_case(c)
    get_client().access_token  # noqa: B018
    fake_wechat.fail_next("cgi-bin/message/custom/send", "timeout")
    transition(report.id, "register", DISPATCHER)
    run_jobs()
    [row] = outbound(report.id)
    assert row.status == "undelivered" and "timeout" in row.error and row.attempts == 1


def test_a_wechat_error_is_recorded_failed_and_raised_for_rq_to_retry(make_citizen, fake_wechat, run_jobs):
    from app.bot.client import WeChatClientException
    from app.bot.notify import send_outbound

    c = make_citizen()
    report = reported_case(c)
    fake_wechat.fail_next("cgi-bin/message/custom/send", *([-1] * 10))
    transition(report.id, "register", DISPATCHER)
    run_jobs()
    [row] = outbound(report.id)
    assert row.status == "failed" and "-1" in row.error
    row_id = row.id
    db.session.commit()
    fake_wechat.failures.clear()
    fake_wechat.fail_next("cgi-bin/message/custom/send", -1)
    with pytest.raises(WeChatClientException):
        send_outbound(row_id)
    assert send_outbound(row_id) == "sent"  # a retry claims the failed row again and sends
    assert len(fake_wechat.messages_to(c.openid)) == 1


def test_points_awarded_is_told_to_the_citizen(make_citizen, fake_wechat, run_jobs):
    c = make_citizen()
    report = reported_case(c)
    emit(PointsAwarded(citizen_id=report.citizen_id, report_id=report.id, amount=10, balance=35))
    db.session.commit()
    run_jobs()
    assert texts_to(fake_wechat, c.openid) == ["感谢您的举报！案件获得 10 积分，当前共 35 积分。"]
    event_id = db.session.scalar(select(OutboxEvent.id).where(OutboxEvent.name == "PointsAwarded"))
    db.session.commit()
    assert run_subscriber(event_id, "app.bot.notify.on_points_awarded") == "already"


# ----------------------------------------------------------------------------------------------- token, menu, oauth


def test_ten_threads_share_one_access_token(app, fake_wechat):
    db.session.commit()
    tokens, barrier = [], threading.Barrier(10)

    def fetch():
        with app.app_context():
            barrier.wait()
            tokens.append(get_client().access_token)

    threads = [threading.Thread(target=fetch) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(tokens)) == 1 and fake_wechat.token_fetches == 1


def test_the_token_job_fetches_only_when_the_shared_token_has_run_out(app, fake_wechat):
    from app.bot.tasks import refresh_access_token_job

    def fetches() -> int:
        return len(fake_wechat.sent("cgi-bin/stable_token"))

    assert refresh_access_token_job() == "refreshed" and fetches() == 1
    assert refresh_access_token_job() == "valid" and fetches() == 1
    client = get_client()
    client.session.delete(client.access_token_key)  # its TTL ran out
    assert refresh_access_token_job() == "refreshed" and fetches() == 2
    assert get_client().access_token == fake_wechat.stable_token and fetches() == 2
    app.config["WECHAT_APP_ID"] = ""
    assert refresh_access_token_job() == "not configured" and fetches() == 2


def test_menu_push_creates_the_three_menus_with_the_h5_pages_at_the_public_address(app, client, runner, fake_wechat):
    app.config["PUBLIC_BASE_URL"] = "https://city.example/"
    result = runner.invoke(args=["wechat", "menu", "push"])
    assert result.exit_code == 0, result.output
    [sent] = fake_wechat.sent("cgi-bin/menu/create")
    assert [b["name"] for b in sent.body["button"]] == ["举报问题", "我的", "便民服务"]
    views = {b["name"]: b["url"] for top in sent.body["button"] for b in top["sub_button"] if b["type"] == "view"}
    assert views == {"在线举报": "https://city.example/report", "案件进度": "https://city.example/me/cases"}
    for url in views.values():  # the pages exist (outside WeChat they answer or send the visitor to sign in)
        assert client.get(url.removeprefix("https://city.example")).status_code in (200, 302)
    for top in sent.body["button"]:  # WeChat's documented limits: 3 menus of at most 5 buttons, short names
        assert len(top["name"].encode()) <= 16 and len(top["sub_button"]) <= 5
        assert all(len(b["name"].encode()) <= 60 for b in top["sub_button"])


def test_menu_push_reports_wechats_refusal(runner, fake_wechat):
    fake_wechat.fail_next("cgi-bin/menu/create", 40016)
    result = runner.invoke(args=["wechat", "menu", "push"])
    assert result.exit_code != 0 and "40016" in result.output


def test_points_login_goes_through_wechat_oauth_and_signs_the_citizen_in(app, client, fake_wechat):
    res = client.get("/points/login")
    assert res.status_code == 302
    location = res.headers["Location"]
    assert location.startswith("https://open.weixin.qq.com/connect/oauth2/authorize?")
    assert "scope=snsapi_base" in location and location.endswith("#wechat_redirect")
    state = location.split("state=")[1].split("#")[0]
    code = fake_wechat.add_oauth_code("oOAuthCitizen")
    res = client.get("/points/oauth/callback", query_string={"code": code, "state": state})
    assert res.status_code == 302 and res.headers["Location"].endswith("/points/")
    with client.session_transaction() as s:
        citizen_id = s["citizen_id"]
    assert db.session.get(CitizenRow, citizen_id).openid == "oOAuthCitizen"


def test_oauth_callback_refuses_a_wrong_state_and_a_bad_code(client, fake_wechat):
    client.get("/points/login")
    assert client.get("/points/oauth/callback", query_string={"code": "x", "state": "forged"}).status_code == 400
    res = client.get("/points/login")
    state = res.headers["Location"].split("state=")[1].split("#")[0]
    res = client.get("/points/oauth/callback", query_string={"code": "UNKNOWN", "state": state})
    assert res.status_code == 502
    assert client.get("/points/").status_code == 401  # neither made a citizen session
    assert db.session.scalar(select(func.count()).select_from(CitizenRow)) == 0  # nor a citizen


def test_the_simulator_chats_with_the_bot_in_safe_mode(app, runner, tmp_path):
    photo = tmp_path / "p.jpg"
    photo.write_bytes(jpeg_bytes())
    db.session.commit()
    lat, lng = GUANYINQIAO_GCJ
    script = f"/event subscribe\n/photo {photo}\n/loc {lat} {lng} 观音桥\n井盖没了\n/quit\n"
    result = runner.invoke(args=["wechat", "simulate", "--encrypt", "--openid", "oSim1"], input=script)
    assert result.exit_code == 0, result.output
    assert "欢迎关注" in result.output and "案件编号：JB" in result.output
    n = db.session.scalar(select(func.count()).select_from(Report))
    assert n == 1


def test_photos_left_pending_are_fetched_by_the_cli(app, runner, fake_wechat, run_jobs):
    from app.reports.services import PhotoInput, Submission, submit_report

    media_id = fake_wechat.add_media(jpeg_bytes())
    r = submit_report(
        Submission(
            channel="wechat",
            lat=29.5752,
            lng=106.5318,
            description="井盖缺失",
            photos=[PhotoInput(source_ref=f"wechat:{media_id}")],
        )
    )
    report_id = r.id
    db.session.commit()
    assert [p[0] for p in photos_of(report_id)] == ["pending"]  # nothing fetches photos of other channels' calls
    result = runner.invoke(args=["wechat", "photos", "fetch"])
    assert "enqueued 1 photo download(s) for 1 case(s)" in result.output
    run_jobs()
    assert [p[0] for p in photos_of(report_id)] == ["stored"]
