"""A case that came without a point (an address-only Open311 request) is placed by a dispatcher, once."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.reports.models import Report, ReportEvent
from app.reports.placement import place_case
from app.reports.services import Submission, submit_report
from app.reports.workflow import InvalidTransition, NotAllowed
from tests.console.conftest import csrf_from
from tests.factories import GUANYINQIAO, actor


def unplaced() -> Report:
    r = submit_report(Submission(channel="open311", lat=None, lng=None, description="路口有人摆摊",
                                 category_code="E0504", address="观音桥步行街"))
    db.session.commit()
    return r


def test_a_case_without_a_point_needs_an_address():
    from app.reports.services import InvalidReport

    with pytest.raises(InvalidReport, match="坐标或地址"):
        submit_report(Submission(channel="open311", lat=None, lng=None, description="x", category_code="E0504"))


def test_a_dispatcher_places_it_through_the_console_and_it_gets_its_grid_and_trail(app, as_role):
    r = unplaced()
    report_id = r.id
    c = as_role("dispatcher")
    page = c.get(f"/console/cases/{report_id}").get_data(as_text=True)
    assert "待定位" in page and "确定位置" in page
    token = csrf_from(c, f"/console/cases/{report_id}")
    response = c.post(f"/console/cases/{report_id}/location", data={
        "lat": str(GUANYINQIAO[0]), "lng": str(GUANYINQIAO[1]), "crs": "wgs84", "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    db.session.expire_all()
    placed = db.session.get(Report, report_id)
    assert not placed.needs_location and abs(placed.lat - GUANYINQIAO[0]) < 1e-9 and placed.grid_id is not None
    assert db.session.scalar(select(ReportEvent.action).order_by(ReportEvent.id.desc()).limit(1)) == "locate"
    assert "待定位" not in c.get(f"/console/cases/{report_id}").get_data(as_text=True)


@pytest.mark.parametrize(("who", "lat", "lng", "error"), [
    ("handler", GUANYINQIAO[0], GUANYINQIAO[1], NotAllowed),
    ("inspector", GUANYINQIAO[0], GUANYINQIAO[1], NotAllowed),
    ("dispatcher", 39.9, 116.4, Exception),  # outside the service area
    ("dispatcher", float("nan"), 106.5, Exception),
])
def test_only_a_dispatcher_places_and_only_inside_the_area(app, who, lat, lng, error):
    r = unplaced()
    with pytest.raises(error):
        place_case(r.id, lat, lng, actor(who, "JB-S-GYQ" if who == "handler" else None))
    db.session.rollback()
    assert db.session.get(Report, r.id).needs_location


def test_a_placed_case_cannot_be_placed_again(app):
    r = unplaced()
    place_case(r.id, *GUANYINQIAO, actor("dispatcher"))
    with pytest.raises(InvalidTransition):
        place_case(r.id, 29.60, 106.55, actor("dispatcher"))


def test_the_console_refuses_a_handler_and_a_forged_csrf_token(app, as_role):
    r = unplaced()
    handler = as_role("handler")
    data = {"lat": str(GUANYINQIAO[0]), "lng": str(GUANYINQIAO[1])}
    assert handler.post(f"/console/cases/{r.id}/location", data=data).status_code in (400, 403, 404)
    dispatcher = as_role("dispatcher")
    assert dispatcher.post(f"/console/cases/{r.id}/location", data={**data, "csrf_token": "forged"}).status_code == 400
    db.session.expire_all()
    assert db.session.get(Report, r.id).needs_location


def test_the_staff_api_gives_a_case_without_a_point_as_documented(client, runner):
    from tests.console.test_console_staff_api import check, make_token

    headers = make_token(runner, "city-platform", "--role", "dispatcher")
    r = unplaced()
    body = check(client.get(f"/api/staff/cases/{r.id}", headers=headers), "/cases/{id}")
    assert body["lat"] is None and body["lng"] is None and body["needs_location"] is True
    listed = check(client.get("/api/staff/cases", headers=headers), "/cases")
    assert [c["needs_location"] for c in listed["items"]] == [True]


def test_the_database_refuses_a_case_without_a_point_that_is_not_flagged(app):
    from sqlalchemy import update
    from sqlalchemy.exc import IntegrityError

    r = unplaced()
    with pytest.raises(IntegrityError):
        db.session.execute(update(Report).where(Report.id == r.id).values(needs_location=False))
        db.session.flush()
    db.session.rollback()
    with pytest.raises(IntegrityError):
        db.session.execute(update(Report).where(Report.id == r.id).values(lat=29.57))  # half a point
        db.session.flush()
    db.session.rollback()
