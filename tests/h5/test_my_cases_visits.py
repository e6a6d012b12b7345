"""「我的举报」 (/me/cases): the cases a citizen follows beside their own, and the return visit (回访) answered
there with the chat's use case — once, by the citizen who was asked, with CSRF."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.citizens.models import Citizen
from app.extensions import db
from app.reports.followers import follow_case
from app.reports.models import Report, ReportEvent, ReturnVisit
from app.reports.services import transition
from tests.factories import actor, report
from tests.h5.test_report_form import csrf, post_report, sign_in_through_wechat

ADMIN = actor("admin")


def close(report_id: int) -> None:
    for action in ("register", "dispatch", "handle", "verify", "close"):
        transition(report_id, action, ADMIN, note="已处置" if action == "handle" else None)
    db.session.commit()


def citizen_id(openid: str) -> int:
    return db.session.scalar(select(Citizen.id).where(Citizen.openid == openid))


def answer(client, number: str, **form):
    return client.post(f"/me/cases/{number}/feedback", data={"csrf_token": csrf(client), **form})


def test_followed_cases_show_their_public_view_beside_ones_own(app, client, fake_wechat):
    sign_in_through_wechat(client, fake_wechat, next_path="/me/cases")
    other = report(description="路灯不亮，电话 13800138000")
    transition(other.id, "register", actor("dispatcher"), note="内部：联系了路灯所")
    follow_case(citizen_id("oH5Citizen01"), other.case_number)
    html = client.get("/me/cases").get_data(as_text=True)
    assert "我关注的案件" in html and other.case_number in html and "已立案" in html
    assert "13800138000" not in html and "内部" not in html  # a follower sees the public view only


def test_a_pending_visit_is_answered_once_from_the_page_and_not_solved_goes_back(app, client, fake_wechat):
    sign_in_through_wechat(client, fake_wechat, next_path="/me/cases")
    number = post_report(client).get_json()["case_number"]
    report_id = db.session.scalar(select(Report.id).where(Report.case_number == number))
    assert "问题解决了吗" not in client.get("/me/cases").get_data(as_text=True)  # nothing asked while open
    close(report_id)
    html = client.get("/me/cases").get_data(as_text=True)
    assert "问题解决了吗" in html and f'action="/me/cases/{number}/feedback"' in html
    res = answer(client, number, rating="dissatisfied", comment="井盖还是松的")
    assert res.status_code == 303 and res.headers["Location"] == f"/me/cases?answered={number}"
    page = client.get(res.headers["Location"]).get_data(as_text=True)
    assert "回访已记录" in page and "问题解决了吗" not in page
    db.session.expire_all()
    assert db.session.scalar(select(Report.status).where(Report.id == report_id)) == "unresolved"
    assert db.session.scalar(select(ReturnVisit.comment).where(ReturnVisit.report_id == report_id)) == "井盖还是松的"
    again = answer(client, number, rating="satisfied")
    assert again.status_code == 409 and "已经评价过" in again.get_data(as_text=True)
    ratings = db.session.scalars(select(ReportEvent.data).where(ReportEvent.report_id == report_id,
                                                                ReportEvent.action == "feedback")).all()
    assert [r["rating"] for r in ratings] == ["dissatisfied"]


def test_forged_or_foreign_answers_change_nothing(app, client, fake_wechat):
    sign_in_through_wechat(client, fake_wechat, next_path="/me/cases")
    number = post_report(client).get_json()["case_number"]
    report_id = db.session.scalar(select(Report.id).where(Report.case_number == number))
    close(report_id)
    no_csrf = client.post(f"/me/cases/{number}/feedback", data={"rating": "satisfied"})
    assert no_csrf.status_code == 400
    assert answer(client, number, rating="excellent").status_code == 404
    stranger = app.test_client()
    sign_in_through_wechat(stranger, fake_wechat, openid="oStranger0001", next_path="/me/cases")
    assert answer(stranger, number, rating="dissatisfied").status_code == 404
    anonymous = app.test_client().post(f"/me/cases/{number}/feedback", data={"rating": "satisfied"})
    assert anonymous.status_code in (302, 400)  # no session: sign in (or no CSRF token)
    db.session.expire_all()
    assert db.session.scalar(select(ReturnVisit.answered_at).where(ReturnVisit.report_id == report_id)) is None
    assert re.search("问题解决了吗", client.get("/me/cases").get_data(as_text=True))
