"""The mini-program's whole day against the fake WeChat API on 127.0.0.1: login (code2Session), a report with photos,
the list and the case, subscribe messages (one delivered, one refused with 43101), the return visit answered, points
redeemed."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from app.bot.models import OutboundMessage
from app.extensions import db
from app.points.rewards import create_reward
from app.points.services import grant_points
from app.reports.models import Report
from app.reports.services import transition
from tests.factories import actor, jpeg_bytes
from tests.mp.test_mp_reports import _citizen_id


def test_login_report_follow_the_steps_answer_the_visit_and_redeem(app, mini, fake_wechat, run_jobs):
    app.config["MP_SUBSCRIBE_TEMPLATE_ID"] = "TPL_CASE_STEP"
    phone = mini(login=False)
    assert phone.login().get_json()["expires_in"] > 0
    assert fake_wechat.sent("sns/jscode2session")  # the login really went through WeChat's endpoint
    created = phone.report(photos=[jpeg_bytes(), jpeg_bytes(color=(0, 90, 200))])
    assert created.status_code == 201
    number = created.get_json()["case_number"]
    assert [c["case_number"] for c in phone.get("/api/mp/reports").get_json()["reports"]] == [number]
    report_id = db.session.scalar(select(Report.id).where(Report.case_number == number))

    fake_wechat.consent(phone.mp_openid, 1)  # one message allowed in wx.requestSubscribeMessage
    admin = actor("admin")
    for action, kw in (("register", {}), ("dispatch", {}), ("handle", {"note": "井盖已补装"}), ("verify", {}),
                       ("close", {"note": "已结案"})):
        transition(report_id, action, admin, **kw)
        run_jobs()
    delivered = fake_wechat.subscribe_messages_to(phone.mp_openid)
    assert len(delivered) == 1 and delivered[0]["data"]["character_string1"]["value"] == number
    db.session.expire_all()
    steps = db.session.scalars(select(OutboundMessage).where(OutboundMessage.kind == "subscribe")
                               .order_by(OutboundMessage.id)).all()
    assert steps[0].status == "sent" and {s.status for s in steps[1:]} == {"undelivered"}
    assert all(s.error.startswith("43101") for s in steps[1:])  # refused without consent, recorded, not retried

    case = phone.get(f"/api/mp/reports/{number}").get_json()["report"]
    assert case["status"] == "closed" and case["feedback"]["pending"] is True
    assert [p["kind"] for p in case["photos"]] == ["report", "report"]
    answer = phone.client.post(f"/api/mp/reports/{number}/feedback", json={"rating": "satisfied"},
                               headers=phone.headers())
    assert answer.status_code == 200 and answer.get_json()["feedback"]["reopened"] is False

    grant_points(_citizen_id(phone), 20, "测试积分", actor="test")
    reward_id = create_reward("环保购物袋", 10, 5, None).id
    before = phone.get("/api/mp/points").get_json()["balance"]
    redeemed = phone.client.post("/api/mp/redemptions", json={"reward_id": reward_id},
                                 headers=phone.headers(**{"Idempotency-Key": uuid.uuid4().hex}))
    assert redeemed.status_code == 201 and redeemed.get_json()["redemption"]["code"]
    assert phone.get("/api/mp/points").get_json()["balance"] == before - 10
