"""Subscribe messages (订阅消息) for the steps of a mini-program citizen's case: outbox → rq → WeChat, once each."""

from __future__ import annotations

from sqlalchemy import select

from app.bot.models import OutboundMessage
from app.extensions import db
from app.reports.models import Report
from app.reports.services import transition
from tests.factories import actor


def subscribe_rows() -> list[OutboundMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboundMessage).where(OutboundMessage.kind == "subscribe")
                                   .order_by(OutboundMessage.id)))


def test_a_consented_step_is_delivered_and_an_unconsented_one_is_recorded_undelivered_not_retried(
        app, mini, fake_wechat, run_jobs):
    app.config["MP_SUBSCRIBE_TEMPLATE_ID"] = "TPL_CASE_STEP"
    phone = mini()
    number = phone.report().get_json()["case_number"]
    report_id = db.session.scalar(select(Report.id).where(Report.case_number == number))
    fake_wechat.consent(phone.mp_openid, 1)  # the citizen allowed one message in wx.requestSubscribeMessage
    transition(report_id, "register", actor("dispatcher"))
    run_jobs()
    delivered = fake_wechat.subscribe_messages_to(phone.mp_openid)
    assert len(delivered) == 1
    msg = delivered[0]
    assert msg["template_id"] == "TPL_CASE_STEP" and msg["page"] == f"pages/case/index?no={number}"
    assert msg["data"]["character_string1"]["value"] == number and msg["data"]["phrase2"]["value"] == "已立案"
    transition(report_id, "dispatch", actor("dispatcher"), department_code="JB-S-GYQ")
    run_jobs()
    rows = subscribe_rows()
    assert [r.status for r in rows] == ["sent", "undelivered"]
    assert rows[1].error.startswith("43101") and rows[1].attempts == 1
    assert len(fake_wechat.sent("cgi-bin/message/subscribe/send")) == 2  # the refused one was not tried again
    assert len({r.dedup_key for r in rows}) == 2 and all(r.dedup_key.startswith(f"mp:{report_id}:") for r in rows)


def test_without_a_template_or_for_account_only_citizens_nothing_is_queued(app, mini, fake_wechat, run_jobs):
    from tests.factories import report

    phone = mini()
    number = phone.report().get_json()["case_number"]
    report_id = db.session.scalar(select(Report.id).where(Report.case_number == number))
    transition(report_id, "register", actor("dispatcher"))  # no MP_SUBSCRIBE_TEMPLATE_ID
    run_jobs()
    app.config["MP_SUBSCRIBE_TEMPLATE_ID"] = "TPL_CASE_STEP"
    account_case = report()
    transition(account_case.id, "register", actor("dispatcher"))
    run_jobs()
    assert subscribe_rows() == [] and not fake_wechat.sent("cgi-bin/message/subscribe/send")


def test_a_mini_program_only_citizen_gets_no_account_message_recorded_undelivered_and_nothing_sent(
        app, mini, fake_wechat, run_jobs):
    phone = mini()
    number = phone.report().get_json()["case_number"]
    report_id = db.session.scalar(select(Report.id).where(Report.case_number == number))
    for action, kw in (("register", {}), ("dispatch", {}), ("handle", {"note": "已处置"}), ("verify", {}),
                       ("close", {})):
        transition(report_id, action, actor("admin"), **kw)
        run_jobs()
    db.session.expire_all()
    rows = list(db.session.scalars(select(OutboundMessage).where(OutboundMessage.kind != "subscribe")))
    assert {r.kind for r in rows} >= {"status", "return_visit"}
    assert {(r.status, r.error, r.attempts) for r in rows} == {("undelivered", "mini-program only: no official-account"
                                                                 " openid to send to", 0)}
    assert not fake_wechat.sent("cgi-bin/message/custom/send") and not fake_wechat.sent("cgi-bin/message/template/send")
    feedback = phone.get(f"/api/mp/reports/{number}").get_json()["report"]["feedback"]
    assert feedback["pending"] is True  # the question reaches them in the mini-program instead
