"""POST /api/mp/reports/<case_number>/feedback: the return visit (回访) answered from the mini-program — once, within
the window, by the citizen who was asked (reporter or follower); 不满意 sends the case back; clear JSON errors."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import select, update

from app.events import utcnow
from app.extensions import db
from app.reports.followers import follow_case
from app.reports.models import Report, ReportEvent, ReturnVisit
from app.reports.services import transition
from tests.factories import actor
from tests.mp.conftest import MiniProgram
from tests.mp.test_mp_reports import _citizen_id

ADMIN = actor("admin")


def closed_case(phone) -> Report:
    number = phone.report().get_json()["case_number"]
    report = db.session.scalar(select(Report).where(Report.case_number == number))
    for action, kw in (("register", {}), ("dispatch", {}), ("handle", {"note": "已处置"}), ("verify", {}),
                       ("close", {"note": "井盖已补装"})):
        transition(report.id, action, ADMIN, **kw)
    db.session.commit()
    return report


def answer(phone, number: str, **body):
    return phone.client.post(f"/api/mp/reports/{number}/feedback", json=body, headers=phone.headers())


def trail(report_id: int, action: str) -> list[ReportEvent]:
    rows = db.session.scalars(select(ReportEvent).where(ReportEvent.report_id == report_id,
                                                        ReportEvent.action == action)).all()
    db.session.commit()
    return rows


def test_the_reporter_sees_the_question_answers_once_and_a_second_answer_is_409(app, mini):
    phone = mini()
    report = closed_case(phone)
    before = phone.get(f"/api/mp/reports/{report.case_number}").get_json()["report"]["feedback"]
    assert before["pending"] is True and before["rating"] is None and "dissatisfied" in before["ratings"]
    res = answer(phone, report.case_number, rating="satisfied")
    assert res.status_code == 200, res.get_json()
    assert res.get_json()["feedback"] == {"case_number": report.case_number, "rating": "satisfied", "reopened": False}
    after = phone.get(f"/api/mp/reports/{report.case_number}").get_json()["report"]
    assert after["feedback"] == {**before, "pending": False, "rating": "satisfied"} and after["status"] == "closed"
    again = answer(phone, report.case_number, rating="dissatisfied")
    assert again.status_code == 409 and again.get_json()["error"] == "already_answered"
    [entry] = trail(report.id, "feedback")
    assert entry.data["rating"] == "satisfied" and entry.visibility == "internal"


def test_dissatisfied_with_words_sends_the_case_back_and_keeps_the_words_in_one_step(app, mini):
    phone = mini()
    report = closed_case(phone)
    res = answer(phone, report.case_number, rating="dissatisfied", comment="  井盖还是松的，踩上去会响  ")
    assert res.status_code == 200 and res.get_json()["feedback"]["reopened"] is True
    status = db.session.scalar(select(Report.status).where(Report.id == report.id))
    visit = db.session.scalar(select(ReturnVisit).where(ReturnVisit.report_id == report.id))
    assert status == "unresolved" and visit.comment == "井盖还是松的，踩上去会响"
    [note] = trail(report.id, "feedback_note")
    assert note.note == "井盖还是松的，踩上去会响" and note.visibility == "internal"
    seqs = [e.seq for e in [*trail(report.id, "feedback"), note, *trail(report.id, "unresolved")]]
    assert len(set(seqs)) == 3  # three entries, three versions of the case
    detail = phone.get(f"/api/mp/reports/{report.case_number}").get_json()["report"]
    assert detail["status"] == "unresolved" and "踩上去会响" not in str(detail["steps"])  # internal words stay in


def test_a_follower_answers_their_own_visit_and_a_stranger_or_an_unasked_case_is_404(app, mini):
    owner, follower, stranger = mini(), mini(), mini()
    number = owner.report().get_json()["case_number"]
    follow_case(_citizen_id(follower), number)
    report = db.session.scalar(select(Report).where(Report.case_number == number))
    for action in ("register", "dispatch", "handle", "verify", "close"):
        transition(report.id, action, ADMIN, note="已处置" if action == "handle" else None)
    db.session.commit()
    assert answer(follower, number, rating="basically_satisfied").status_code == 200
    for phone, case in ((stranger, number), (owner, "JB-NO-SUCH-CASE")):
        res = answer(phone, case, rating="satisfied")
        assert res.status_code == 404 and res.get_json()["error"] == "no_return_visit"
    still_open = owner.report(description="路灯不亮").get_json()["case_number"]
    assert answer(owner, still_open, rating="satisfied").status_code == 404  # nothing was asked yet
    assert answer(owner, number, rating="satisfied").status_code == 200  # the reporter's own visit is separate


def test_after_the_window_the_answer_is_410_and_nothing_changes(app, mini):
    phone = mini()
    report = closed_case(phone)
    db.session.execute(update(ReturnVisit).where(ReturnVisit.report_id == report.id)
                       .values(expires_at=utcnow() - timedelta(minutes=1)))
    db.session.commit()
    assert phone.get(f"/api/mp/reports/{report.case_number}").get_json()["report"]["feedback"]["pending"] is False
    res = answer(phone, report.case_number, rating="dissatisfied")
    assert res.status_code == 410 and res.get_json()["error"] == "feedback_closed"
    assert trail(report.id, "feedback") == [] and trail(report.id, "unresolved") == []


def test_bad_bodies_are_400_and_no_token_is_401(app, mini):
    phone = mini()
    report = closed_case(phone)
    for body in ({}, {"rating": "great"}, {"rating": 1}, {"rating": "satisfied", "comment": "字" * 501},
                 {"rating": "satisfied", "comment": ["x"]}):
        res = answer(phone, report.case_number, **body)
        assert res.status_code == 400 and res.get_json()["error"] == "invalid_request", body
    forged = phone.client.post(f"/api/mp/reports/{report.case_number}/feedback", json={"rating": "satisfied"},
                               headers={"Authorization": "Bearer forged.token.value"})
    assert forged.status_code == 401
    assert trail(report.id, "feedback") == []


def test_parallel_answers_record_one(app, fake_wechat, mini):
    phone = mini()
    report = closed_case(phone)
    number, report_id = report.case_number, report.id
    db.session.commit()  # the threads' own sessions write; this one holds no transaction meanwhile
    statuses, lock = [], threading.Lock()

    def tap(rating):
        own = MiniProgram(app.test_client(), fake_wechat, phone.mp_openid)
        own.token = phone.token
        res = answer(own, number, rating=rating)
        with lock:
            statuses.append(res.status_code)

    threads = [threading.Thread(target=tap, args=(r,)) for r in ("satisfied", "dissatisfied") * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200, 409, 409, 409, 409, 409]
    assert len(trail(report_id, "feedback")) == 1
