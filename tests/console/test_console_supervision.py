"""督办, the inbox and the hotline form through the console: real pages, CSRF, roles; a browser for the inbox."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from werkzeug.security import generate_password_hash

from app.citizens.models import StaffNotification, StaffUser
from app.extensions import db
from app.reports.models import Report, ReportPhoto
from app.reports.services import get_report, transition
from app.reports.supervision import sweep_deadlines
from app.reports.ticket_models import HotlineCaller
from tests.console.conftest import PASSWORDS, csrf_from, login
from tests.factories import actor, jpeg_bytes, report

EXTRA = {"supervisor": "super-pass-123", "operator": "operator-pass-123"}


@pytest.fixture
def more_staff(staff):
    """A supervisor and a hotline operator besides the usual roles."""
    for role, password in EXTRA.items():
        db.session.add(
            StaffUser(
                username=role,
                role=role,
                display_name=f"{role}测试",
                password_hash=generate_password_hash(password, method="pbkdf2:sha256:1000"),
            )
        )
    db.session.commit()
    PASSWORDS.update(EXTRA)
    yield staff
    for role in EXTRA:
        PASSWORDS.pop(role, None)


def client_as(app, username):
    c = app.test_client()
    assert login(c, username).status_code == 302
    return c


def dispatched_case():
    r = report("观音桥路口有人摆摊", category_code="E0504")
    transition(r.id, "register", actor("dispatcher"))
    return transition(r.id, "dispatch", actor("dispatcher"), department_code="JB-S-GYQ")


def test_a_supervisor_supervises_from_the_case_page_and_the_handler_sees_it_in_the_inbox(app, more_staff, run_jobs):
    r = dispatched_case()
    sup = client_as(app, "supervisor")
    page = sup.get(f"/console/cases/{r.id}").get_data(as_text=True)
    assert 'data-action="supervise"' in page and 'data-action="recategorize"' not in page
    token = csrf_from(sup, f"/console/cases/{r.id}")
    answer = sup.post(
        f"/console/cases/{r.id}/actions/supervise",
        data={"csrf_token": token, "note": "请今日内处置", "deadline": "2099-01-01T10:00"},
    )
    assert answer.status_code == 400 and "90 天" in answer.get_data(as_text=True)
    answer = sup.post(
        f"/console/cases/{r.id}/actions/supervise",
        data={"csrf_token": token, "note": "请今日内处置", "expected_version": str(r.version)},
    )
    assert answer.status_code == 302
    assert get_report(r.id).supervised and "督办件" in sup.get(f"/console/cases/{r.id}").get_data(as_text=True)
    run_jobs()
    handler = client_as(app, "handler")
    home = handler.get("/console/").get_data(as_text=True)
    assert 'id="inbox-unread">1<' in home
    inbox = handler.get("/console/inbox").get_data(as_text=True)
    assert f"督办：案件 {r.case_number}" in inbox and "请今日内处置" in inbox
    other = client_as(app, "handler_hxj")
    assert 'id="inbox-unread"' not in other.get("/console/").get_data(as_text=True)


def test_a_supervision_without_a_note_or_by_an_inspector_is_refused(app, more_staff):
    r = dispatched_case()
    sup = client_as(app, "supervisor")
    token = csrf_from(sup, f"/console/cases/{r.id}")
    assert sup.post(f"/console/cases/{r.id}/actions/supervise", data={"csrf_token": token}).status_code == 400
    inspector = client_as(app, "inspector")
    token = csrf_from(inspector, f"/console/cases/{r.id}")
    assert (
        inspector.post(f"/console/cases/{r.id}/actions/supervise", data={"csrf_token": token, "note": "x"}).status_code
        == 403
    )
    assert sup.post(f"/console/cases/{r.id}/actions/supervise", data={"note": "no csrf"}).status_code == 400
    assert not get_report(r.id).supervised


def test_recategorize_from_the_case_page_records_the_trail(app, more_staff):
    r = dispatched_case()
    disp = client_as(app, "dispatcher")
    token = csrf_from(disp, f"/console/cases/{r.id}")
    answer = disp.post(
        f"/console/cases/{r.id}/actions/recategorize",
        data={"csrf_token": token, "category": "E0101", "note": "实为违建"},
    )
    assert answer.status_code == 302
    assert get_report(r.id).category.code == "E0101"
    assert "更正类别" in disp.get(f"/console/cases/{r.id}").get_data(as_text=True)


def test_marking_read_touches_only_the_users_own_entries(app, more_staff, run_jobs):
    r = dispatched_case()
    sweep_deadlines(now=r.deadline_at + timedelta(minutes=1))
    run_jobs()
    mine = db.session.scalars(
        select(StaffNotification.id)
        .join(StaffUser, StaffUser.id == StaffNotification.staff_id)
        .where(StaffUser.username == "handler")
    ).all()
    assert len(mine) == 1
    other = client_as(app, "handler_hxj")
    token = csrf_from(other, "/console/inbox")
    other.post("/console/inbox/read", data={"csrf_token": token, "id": [str(i) for i in mine]})
    other.post("/console/inbox/read", data={"csrf_token": token, "all": "1"})
    assert db.session.scalar(select(StaffNotification.read_at).where(StaffNotification.id == mine[0])) is None
    handler = client_as(app, "handler")
    token = csrf_from(handler, "/console/inbox")
    handler.post("/console/inbox/read", data={"csrf_token": token, "id": [str(mine[0])]})
    db.session.expire_all()
    assert db.session.scalar(select(StaffNotification.read_at).where(StaffNotification.id == mine[0])) is not None
    assert 'id="inbox-unread"' not in handler.get("/console/").get_data(as_text=True)


def hotline_form(client, **fields):
    token = csrf_from(client, "/console/hotline")
    page = client.get("/console/hotline").get_data(as_text=True)
    form_token = page.split('name="form_token" value="')[1].split('"')[0]
    data = {
        "csrf_token": token,
        "form_token": form_token,
        "phone": "13900001111",
        "name": "李女士",
        "address": "观音桥步行街 12 号",
        "lat": "29.5752",
        "lng": "106.5318",
        "crs": "wgs84",
        "category": "E0504",
        "description": "店门口占道经营",
    } | fields
    return client.post("/console/hotline", data=data, content_type="multipart/form-data")


def test_an_operator_takes_a_call_with_a_photo_and_the_caller_stays_private(app, more_staff):
    op = client_as(app, "operator")
    answer = hotline_form(op, photos=[(io.BytesIO(jpeg_bytes()), "photo.jpg")])
    assert answer.status_code == 302
    r = db.session.scalar(select(Report))
    assert r.channel == "hotline" and r.category.code == "E0504" and r.address == "观音桥步行街 12 号"
    assert [p.status for p in db.session.scalars(select(ReportPhoto))] == ["stored"]
    assert db.session.get(HotlineCaller, r.id).phone == "13900001111"
    assert "13900001111" in op.get(f"/console/cases/{r.id}").get_data(as_text=True)
    public = [
        app.test_client().get(f"/cases/{r.case_number}").get_data(as_text=True),
        app.test_client().get("/open311/v2/requests.json").get_data(as_text=True),
    ]
    assert all("13900001111" not in s and "李女士" not in s for s in public)


def test_address_only_calls_are_placed_at_the_chosen_grid_and_a_double_submit_is_one_case(app, more_staff):
    disp = client_as(app, "dispatcher")
    token = csrf_from(disp, "/console/hotline")
    base = {
        "csrf_token": token,
        "form_token": "double-submit-token-1234",
        "phone": "023-6789 1234",
        "address": "华新街 3 号",
        "grid": "JB-HXJ",
        "description": "路灯不亮",
    }
    assert disp.post("/console/hotline", data=base).status_code == 302
    assert disp.post("/console/hotline", data=base).status_code == 302
    assert db.session.scalar(select(func.count()).select_from(Report)) == 1
    assert db.session.scalar(select(Report)).grid is not None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"phone": ""}, "来电号码"),
        ({"phone": "<script>"}, "来电号码"),
        ({"lat": "", "lng": "", "grid": ""}, "选点"),
        ({"lat": "abc"}, "纬度"),
        ({"lat": "39.9", "lng": "116.4"}, "服务范围"),
        ({"description": "长" * 1001}, "太长"),
        ({"form_token": "x"}, "表单已失效"),
    ],
)
def test_wrong_calls_are_refused_on_the_form(app, more_staff, fields, message):
    op = client_as(app, "operator")
    answer = hotline_form(op, **fields)
    assert answer.status_code == 400 and message in answer.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Report)) == 0


def test_only_operators_dispatchers_and_admins_take_calls(app, more_staff):
    for username, status in (
        ("handler", 403),
        ("inspector", 403),
        ("supervisor", 403),
        ("operator", 200),
        ("dispatcher", 200),
        ("admin", 200),
    ):
        assert client_as(app, username).get("/console/hotline").status_code == status, username
    assert app.test_client().get("/console/hotline").status_code == 302  # to the login page


@pytest.mark.browser
def test_the_inbox_in_a_browser_unread_badge_list_and_mark_read(app, more_staff, page, live_server, run_jobs):
    from tests.console.test_console_browser import log_in

    r = dispatched_case()
    sweep_deadlines(now=r.dispatched_at + timedelta(hours=20))  # the 80% warning
    run_jobs()
    db.session.commit()
    log_in(page, live_server, "handler", PASSWORDS["handler"])
    assert page.inner_text("#inbox-unread") == "1"
    page.click("#inbox-link")
    row = page.locator("#inbox tr.unread")
    assert row.count() == 1 and "临期预警" in row.inner_text()
    row.locator("input[type=checkbox]").check()
    with page.expect_navigation():
        page.click("#mark-read")
    assert page.locator("#inbox tr.unread").count() == 0 and page.locator("#inbox tr.read").count() == 1
    assert page.locator("#inbox-unread").count() == 0
    page.click("text=查看案件")
    assert r.case_number in page.inner_text("h1")
