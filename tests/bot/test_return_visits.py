"""The return visit (回访) through the webhook and the fake WeChat API: asked once after 结案, three answers
recorded, 「不满意」 sends the case back as 「群众反映未解决」 with the citizen's words and photos, late, second and
foreign answers refused, and 「满意」 is ordinary text when nothing was asked."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import jsonschema
from sqlalchemy import select

from app.events import utcnow
from app.extensions import db
from app.reports.feedback import VisitNotFound, answer_return_visit
from app.reports.models import Report, ReportEvent, ReportPhoto, ReturnVisit
from app.reports.services import transition
from app.reports.staff_api import OPENAPI_PATH
from tests.bot.test_bot_outbound import reported_case, texts_to
from tests.console.test_console_staff_api import make_token
from tests.factories import actor, jpeg_bytes

ADMIN = actor("admin")
OPENAPI = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
QUESTION = "问题解决了吗？您对处理结果满意吗？"


def close(report_id: int, note: str = "井盖已补装，现场已恢复") -> None:
    for action, kw in (("register", {}), ("dispatch", {}), ("handle", {"note": "已处置"}), ("verify", {}),
                       ("close", {"note": note})):
        transition(report_id, action, ADMIN, **kw)


def entries(report_id: int, action: str) -> list[ReportEvent]:
    rows = db.session.scalars(
        select(ReportEvent).where(ReportEvent.report_id == report_id, ReportEvent.action == action)
        .order_by(ReportEvent.seq)
    ).all()
    db.session.commit()
    return rows


def status_of(report_id: int) -> str:
    value = db.session.scalar(select(Report.status).where(Report.id == report_id))
    db.session.commit()
    return value


def test_the_question_is_sent_once_after_closing_and_the_three_answers_are_recorded(
    app, client, runner, make_citizen, fake_wechat, run_jobs
):
    headers = make_token(runner, "platform")
    answers = {"1": ("satisfied", True), "基本满意": ("basically_satisfied", True), "没解决": ("dissatisfied", False)}
    for said, (rating, resolved) in answers.items():
        c = make_citizen()
        report = reported_case(c)
        assert client.get(f"/api/staff/cases/{report.id}", headers=headers).json["feedback"] is None
        close(report.id)
        run_jobs()
        run_jobs()  # a job run twice sends nothing twice
        questions = [t for t in texts_to(fake_wechat, c.openid) if QUESTION in t]
        assert len(questions) == 1 and report.case_number in questions[0] and "1 满意" in questions[0]
        assert "井盖已补装" in questions[0]  # the public closing note comes with it
        assert not any("已结案，感谢" in t for t in texts_to(fake_wechat, c.openid))  # one message, not two
        reply = c.text(said)
        assert report.case_number in reply
        feedback = client.get(f"/api/staff/cases/{report.id}", headers=headers).json["feedback"]
        jsonschema.validate(feedback, OPENAPI["components"]["schemas"]["Feedback"])  # the documented contract
        assert feedback["rating"] == rating and feedback["resolved"] is resolved and feedback["at"].endswith("Z")
        [entry] = entries(report.id, "feedback")
        assert entry.data["rating"] == rating and entry.data["resolved"] is resolved
        assert entry.visibility == "internal"
        # a second answer is refused politely and changes nothing
        assert "已经评价过" in c.text("满意")
        assert client.get(f"/api/staff/cases/{report.id}", headers=headers).json["feedback"]["rating"] == rating


def test_dissatisfied_sends_the_case_back_visibly_with_the_citizens_words_and_photos(
    app, client, runner, make_citizen, fake_wechat, run_jobs
):
    c = make_citizen()
    report = reported_case(c)
    close(report.id)
    run_jobs()
    balance_before = c.text("积分")
    reply = c.text("3")
    assert "群众反映未解决" in reply and "重新核查" in reply  # the citizen is told
    assert status_of(report.id) == "unresolved"
    [moved] = entries(report.id, "unresolved")
    assert moved.from_status == "closed" and moved.data["department"] is not None  # counted against the department
    assert "补充到案件" in c.text("井盖还是没有盖上，晚上很危险" + "！" * 600)  # an oversized sentence is cut, kept
    assert "收到照片" in c.photo(jpeg_bytes())
    assert "不客气" in c.text("谢谢")  # thanks are thanks, not words for the case
    run_jobs()
    [note] = entries(report.id, "feedback_note")
    assert note.note.startswith("井盖还是没有盖上") and len(note.note) <= 500 and note.visibility == "internal"
    photos = db.session.scalars(
        select(ReportPhoto).where(ReportPhoto.report_id == report.id, ReportPhoto.kind == "feedback")
    ).all()
    db.session.commit()
    assert [p.status for p in photos] == ["stored"]
    # back in the dispatcher's queue, visible, with what the citizen said
    dispatcher = make_token(runner, "desk", "--role", "dispatcher")
    listed = client.get("/api/staff/cases?status=unresolved", headers=dispatcher).json
    assert report.id in [r["id"] for r in listed["items"]]
    detail = client.get(f"/api/staff/cases/{report.id}", headers=dispatcher).json
    assert "dispatch" in detail["actions"] and "reopen" in detail["actions"]
    assert any(e["action"] == "feedback_note" and "危险" in e["note"] for e in detail["trail"])
    public_page = client.get(f"/cases/{report.case_number}").get_data(as_text=True)
    assert "群众反映未解决" in public_page and "群众反映问题未解决，重新办理中" in public_page  # a visible step
    assert "危险" not in public_page and "满意" not in public_page  # the citizen's words and rating stay internal
    assert "重新办理中" in c.text(report.case_number)
    # the points the reporter earned are not taken back
    assert c.text("积分") == balance_before
    # and the photo did not start a new report
    assert db.session.scalar(select(db.func.count()).select_from(Report)) == 1


def test_a_late_answer_is_refused_politely(app, make_citizen, run_jobs):
    c = make_citizen()
    report = reported_case(c)
    close(report.id)
    run_jobs()
    visit = db.session.scalar(select(ReturnVisit).where(ReturnVisit.report_id == report.id))
    visit.expires_at = utcnow() - timedelta(minutes=1)  # the window (FEEDBACK_WINDOW_DAYS) has passed
    db.session.commit()
    reply = c.text("不满意")
    assert "已超过 7 天" in reply
    assert status_of(report.id) == "closed" and entries(report.id, "feedback") == []


def test_without_a_pending_question_satisfied_is_ordinary_text(make_citizen, run_jobs):
    c = make_citizen()
    reply = c.text("满意")
    assert "评价" not in reply and "回访" not in reply
    other = make_citizen()
    report = reported_case(other)
    close(report.id)
    run_jobs()
    assert "评价" not in c.text("1")  # another citizen's question is not this citizen's
    assert status_of(report.id) == "closed"


def test_a_visit_cannot_be_answered_for_another_citizen(app, make_citizen, run_jobs):
    c, other = make_citizen(), make_citizen()
    report = reported_case(c)
    other.text("帮助")
    close(report.id)
    run_jobs()
    visit = db.session.scalar(select(ReturnVisit).where(ReturnVisit.report_id == report.id))
    other_id = db.session.scalar(select(Report.citizen_id).where(Report.id != report.id)) or visit.citizen_id + 1
    db.session.commit()
    try:
        answer_return_visit(visit.id, other_id, "dissatisfied")
        raise AssertionError("answered another citizen's visit")
    except VisitNotFound:
        pass
    assert status_of(report.id) == "closed"


def test_two_answers_pushed_at_once_record_one(app, make_citizen, run_jobs):
    c = make_citizen()
    report = reported_case(c)
    close(report.id)
    run_jobs()
    replies = []
    barrier = threading.Barrier(2)

    def answer(word, msg_id):
        barrier.wait()
        replies.append(c.text(word, msg_id=msg_id))

    threads = [threading.Thread(target=answer, args=(w, 990000 + i)) for i, w in enumerate(("1", "3"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(entries(report.id, "feedback")) == 1
    assert sum("已经评价过" in r for r in replies) == 1 or any("系统开小差" in r for r in replies)


def test_a_reopen_and_a_second_dispatch_are_each_notified_once(app, make_citizen, fake_wechat, run_jobs):
    c = make_citizen()
    report = reported_case(c)
    transition(report.id, "register", ADMIN)
    transition(report.id, "dispatch", ADMIN)
    transition(report.id, "dispatch", ADMIN, department_code="JB-S-HXJ")  # a second dispatch
    run_jobs()
    assert sum("已派给" in t for t in texts_to(fake_wechat, c.openid)) == 2
    for action, kw in (("handle", {"note": "已处置"}), ("verify", {}), ("close", {}),
                       ("reopen", {"note": "市民来电反映仍有问题"})):
        transition(report.id, action, ADMIN, **kw)
    run_jobs()
    run_jobs()
    registered = [t for t in texts_to(fake_wechat, c.openid) if "已立案" in t]
    assert len(registered) == 2  # the first 立案 and the reopen's, each once


def test_template_messages_open_the_cases_public_page(app, make_citizen, fake_wechat, run_jobs):
    from tests.bot.test_bot_outbound import set_last_message

    app.config["WECHAT_TEMPLATE_ID"] = "TPL"
    c = make_citizen()
    report = reported_case(c)
    set_last_message(c.openid, 49)
    transition(report.id, "register", ADMIN)
    run_jobs()
    [sent] = fake_wechat.sent("cgi-bin/message/template/send")
    assert sent.body["url"] == f"{app.config['PUBLIC_BASE_URL']}/cases/{report.case_number}"
