"""Nothing internal reaches a citizen: a note planted with a unique marker appears on no citizen surface, while the
notes written for the citizen do (chat, public page, Open311 JSON and XML, points pages, notifications)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from app.extensions import db
from app.reports.services import add_comment, transition
from app.reports.workflow import InvalidVisibility
from tests.bot.test_bot_outbound import reported_case, texts_to
from tests.console.test_console_staff_api import make_token
from tests.factories import actor
from tests.points.conftest import sign_in

ADMIN = actor("admin")
SECRET = "内部备注：此人经常乱报，别理 #MARK-7f3a"


def _walk_the_loop(report_id: int) -> None:
    transition(report_id, "register", ADMIN, note=SECRET + " register")  # default: internal
    add_comment(report_id, ADMIN, SECRET + " comment")  # default: internal
    add_comment(report_id, ADMIN, "已联系物业，近日处理", visibility="public")
    transition(report_id, "dispatch", ADMIN, note=SECRET + " dispatch")  # default: internal
    transition(report_id, "handle", ADMIN, note="井盖已补装")  # default: public
    transition(report_id, "verify", ADMIN, note=SECRET + " verify")
    transition(report_id, "close", ADMIN, note=SECRET + " close", visibility="internal")  # chosen: internal


def test_an_internal_note_reaches_no_citizen_surface_and_public_notes_do(
    app, client, make_citizen, fake_wechat, run_jobs
):
    c = make_citizen()
    report = reported_case(c)
    _walk_the_loop(report.id)
    run_jobs()
    case_number = report.case_number

    chat = c.text(case_number)
    public_page = client.get(f"/cases/{case_number}").get_data(as_text=True)
    o311_json = client.get(f"/open311/v2/requests/{case_number}.json").get_data(as_text=True)
    o311_xml = client.get(f"/open311/v2/requests/{case_number}.xml").get_data(as_text=True)
    o311_list = client.get("/open311/v2/requests.json").get_data(as_text=True)
    o311_updates = client.get("/open311/v2/servicerequestupdates.xml").get_data(as_text=True)
    sign_in(client, report.citizen_id)
    points_pages = [client.get(p).get_data(as_text=True) for p in ("/points/", "/points/redemptions")]
    notices = texts_to(fake_wechat, c.openid)

    surfaces = {"chat": chat, "public page": public_page, "open311 json": o311_json, "open311 xml": o311_xml,
                "open311 list": o311_list, "open311 updates": o311_updates, "notifications": "\n".join(notices)}
    surfaces.update({f"points page {i}": html for i, html in enumerate(points_pages)})
    for name, body in surfaces.items():
        assert "MARK-7f3a" not in body, name
        assert "别理" not in body, name
    # what was written for the citizen does arrive
    assert "已联系物业，近日处理" in chat and "井盖已补装" in chat
    assert "已联系物业，近日处理" in public_page and "井盖已补装" in public_page
    assert any("井盖已补装" in n for n in notices)
    assert "已处置：井盖已补装" in o311_updates
    ET.fromstring(o311_xml)  # still well-formed
    # and staff still see everything
    detail = [e for e in report_trail(report.id) if "MARK-7f3a" in (e.note or "")]
    assert {e.action for e in detail} == {"register", "comment", "dispatch", "verify", "close"}
    assert {e.visibility for e in detail} == {"internal"}


def report_trail(report_id: int):
    from app.reports.models import ReportEvent

    rows = db.session.query(ReportEvent).filter_by(report_id=report_id).order_by(ReportEvent.seq).all()
    db.session.commit()
    return rows


def test_the_staff_api_takes_and_shows_visibility_and_refuses_an_unknown_one(app, client, runner):
    from tests.factories import report as make_report

    r = make_report()
    api_headers = make_token(runner, "platform")
    res = client.post(f"/api/staff/cases/{r.id}/comments", json={"note": "给市民的说明", "visibility": "public"},
                      headers=api_headers)
    assert res.status_code == 201 and res.json["visibility"] == "public"
    res = client.post(f"/api/staff/cases/{r.id}/comments", json={"note": "内部", "visibility": "secret"},
                      headers=api_headers)
    assert res.status_code == 400 and res.json["error"] == "invalid_visibility"
    res = client.post(f"/api/staff/cases/{r.id}/comments", json={"note": "内部", "visibility": 1}, headers=api_headers)
    assert res.status_code == 400
    detail = client.get(f"/api/staff/cases/{r.id}", headers=api_headers).json
    comments = [(e["note"], e["visibility"]) for e in detail["trail"] if e["action"] == "comment"]
    assert comments == [("给市民的说明", "public")]  # the refused ones recorded nothing


def test_defaults_are_internal_for_comments_and_dispatch_and_public_for_handling_and_closing(app):
    from tests.factories import report as make_report

    r = make_report()
    transition(r.id, "register", ADMIN, note="a")
    transition(r.id, "dispatch", ADMIN, note="b")
    transition(r.id, "handle", ADMIN, note="c")
    transition(r.id, "verify", ADMIN)
    transition(r.id, "close", ADMIN, note="d")
    add_comment(r.id, ADMIN, "e")
    got = {e.action: e.visibility for e in report_trail(r.id)}
    assert got == {"submit": "internal", "register": "internal", "dispatch": "internal", "handle": "public",
                   "verify": "internal", "close": "public", "comment": "internal"}
    with pytest.raises(InvalidVisibility):
        add_comment(r.id, ADMIN, "f", visibility="everyone")
