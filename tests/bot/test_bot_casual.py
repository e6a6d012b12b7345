"""The bot as a citizen meets it: a sign's code typed in the chat, casual messages that are not evidence, questions
answered as questions, and a category question that never offers a single choice."""

from __future__ import annotations

from sqlalchemy import select

from app.bot import dialogue
from app.extensions import db
from app.reports.models import Report
from tests.bot.conftest import GUANYINQIAO_GCJ
from tests.bot.test_bot_dialogue import case_of, make_pois


def cases() -> int:
    n = db.session.scalar(select(db.func.count()).select_from(Report))
    db.session.commit()
    return n


def test_a_signs_code_typed_in_the_chat_answers_like_scanning_it(app, make_citizen):
    from app.poi.seed import seed_demo

    seed_demo()
    db.session.commit()
    c = make_citizen()
    for typed in ("DEMO01", "demo01"):
        reply = c.text(typed)
        assert "标牌 DEMO01" in reply and "/s/DEMO01" in reply, reply
        assert any(name in reply for name in ("公厕", "停车场", "治安岗亭", "洗车点"))
        assert "toilet" not in reply and "parking" not in reply
    c.photo()
    assert "收到描述：「DEMO01」" in c.text("DEMO01")  # inside a draft the code says where (as the placard asks)
    assert "您可以这样使用" in make_citizen().text("ZZZZ99")  # no such sign: help, not a report
    assert cases() == 0


def test_casual_messages_after_cancel_never_start_or_join_a_report(app, make_citizen):
    make_pois()
    c = make_citizen()
    c.photo()
    assert "已取消" in c.text("取消")
    for text in ("谢谢", "hello", "附近厕所", "好的"):
        c.text(text)
        assert dialogue.load(c.openid) is None, text
    c.photo()
    c.text("谢谢")  # inside a draft: answered, not added to the description
    assert dialogue.load(c.openid)["description"] == ""
    assert cases() == 0


def test_a_nearby_question_is_answered_as_a_question(app, make_citizen):
    make_pois()
    c = make_citizen()
    assert "发送您的位置" in c.text("附近厕所")  # no location known yet: asked for it
    c.event("LOCATION", Latitude=GUANYINQIAO_GCJ[0], Longitude=GUANYINQIAO_GCJ[1], Precision=65.0)
    reply = c.text("附近有厕所吗")
    assert "观音桥公厕（公厕）" in reply and "停车场" not in reply.split("\n")[1]
    assert "/nearby?" in reply and dialogue.load(c.openid) is None
    assert cases() == 0


def test_a_sentence_that_reads_as_a_problem_still_starts_a_report(make_citizen):
    c = make_citizen()
    assert "收到描述" in c.text("公厕很脏没人打扫，味道很大")
    assert dialogue.load(c.openid)["description"].startswith("公厕很脏")


def test_the_category_question_never_offers_a_single_choice(make_citizen):
    c = make_citizen()
    c.photo()
    c.location(*GUANYINQIAO_GCJ)
    reply = c.text("井盖")  # one weak match: used (staff may recategorise), not a list of one
    assert "请回复数字" not in reply
    assert case_of(reply).category.name == "无主井盖"
    d = make_citizen()
    d.photo()
    d.location(*GUANYINQIAO_GCJ)
    reply = d.text("井盖和垃圾")
    assert "\n1. " in reply and "\n2. " in reply and "0. 其他" in reply
