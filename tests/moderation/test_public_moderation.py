"""What the public sees: nothing before registration but the basics, flagged text only after a moderator, personal
data masked, points rounded, hidden photos and cases nowhere; the moderation queue and the public's flags."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from app.extensions import db
from app.moderation.models import CitizenSanction
from app.reports.citizen_view import citizen_view
from app.reports.models import CaseFlag, Report, ReportEvent, ReportPhoto
from app.reports.services import transition
from tests.console.conftest import csrf_from
from tests.factories import actor, report

pytest_plugins = ["tests.console.conftest"]
ADMIN = actor("admin")


def registered(description: str, **kw) -> Report:
    r = report(description, **kw)
    transition(r.id, "register", ADMIN)
    db.session.commit()
    return r


def page(client, case_number: str) -> str:
    res = client.get(f"/cases/{case_number}")
    assert res.status_code == 200
    return res.get_data(as_text=True)


def test_before_registration_the_public_sees_only_number_category_area_and_state(app, client):
    r = report("盖子没了，联系我13812345678", category_code="C0101")
    html = page(client, r.case_number)
    assert r.case_number in html and "盖子没了" not in html and "1381234" not in html and "已上报" in html
    transition(r.id, "register", ADMIN)
    html = page(client, r.case_number)
    assert "盖子没了，联系我138****5678" in html and "13812345678" not in html


def test_flagged_text_is_public_only_after_a_moderator_and_an_edit_keeps_the_original_for_staff(app, client, as_role):
    r = registered("门口这个狗官根本不管事，摆摊占道")
    assert r.moderation == "flagged" and r.moderation_reasons == ["辱骂：狗官"]
    assert "狗官" not in page(client, r.case_number) and "摆摊占道" not in page(client, r.case_number)
    mod = as_role("moderator")
    queue = mod.get("/console/moderation/").get_data(as_text=True)
    assert f'data-case="{r.case_number}"' in queue and "辱骂：狗官" in queue
    token = csrf_from(mod, "/console/moderation/")
    res = mod.post(f"/console/moderation/{r.id}/edit", data={"csrf_token": token, "text": "门口摆摊占道，无人管理"})
    assert res.status_code == 303
    html = page(client, r.case_number)
    assert "门口摆摊占道，无人管理" in html and "狗官" not in html
    db.session.expire_all()
    assert db.session.get(Report, r.id).description == "门口这个狗官根本不管事，摆摊占道"
    entry = db.session.scalars(select(ReportEvent).where(ReportEvent.action == "moderate")).one()
    assert entry.visibility == "internal" and entry.actor_name == "moderator测试" and entry.data["op"] == "edit"
    assert "moderator" not in html and "修改公开内容" not in html
    assert f'data-case="{r.case_number}"' not in mod.get("/console/moderation/").get_data(as_text=True)


def test_a_hidden_photo_and_a_hidden_case_appear_on_no_public_surface(app, client, as_role):
    r = registered("路灯坏了一排")
    photo = ReportPhoto(report_id=r.id, kind="report", status="stored", sha256="a" * 64, width=10, height=10)
    db.session.add(photo)
    db.session.commit()
    assert [p.id for p in citizen_view(db.session.get(Report, r.id)).photos] == [photo.id]
    mod = as_role("moderator")
    token = csrf_from(mod, "/console/moderation/")
    mod.post(f"/console/moderation/{r.id}/hide_photo", data={"csrf_token": token, "photo_id": photo.id})
    db.session.expire_all()
    assert citizen_view(db.session.get(Report, r.id)).photos == []
    assert citizen_view(db.session.get(Report, r.id), audience="reporter").photos == []
    assert r.case_number in client.get("/cases").get_data(as_text=True)
    assert r.case_number in client.get("/open311/v2/requests.json").get_data(as_text=True)
    mod.post(f"/console/moderation/{r.id}/hide_case", data={"csrf_token": token})
    assert client.get(f"/cases/{r.case_number}").status_code == 404
    assert client.get(f"/open311/v2/requests/{r.case_number}.json").status_code == 404
    assert r.case_number not in client.get("/open311/v2/requests.json").get_data(as_text=True)
    assert r.case_number not in client.get("/open311/v2/servicerequestupdates.json").get_data(as_text=True)
    assert r.case_number not in client.get("/cases").get_data(as_text=True)
    assert r.case_number not in client.get("/cases/map.json").get_data(as_text=True)


def test_points_are_rounded_for_events_and_exact_for_fixed_facilities(app):
    event = registered("路口有人摆摊", lat=29.575234, lng=106.531877, category_code="E0504")
    facility = registered("井盖缺失", lat=29.575234, lng=106.531877, category_code="C0101")
    ev, fac = citizen_view(event), citizen_view(facility)
    assert (fac.lat, fac.lng) == (29.575234, 106.531877)
    assert (ev.lat, ev.lng) != (29.575234, 106.531877)
    assert abs(ev.lat - 29.575234) * 111_320 <= 5.01 and abs(ev.lng - 106.531877) * 111_320 * 0.87 <= 5.01
    app.config["PUBLIC_LOCATION_PRECISION_M"] = 0
    assert (citizen_view(event).lat, citizen_view(event).lng) == (29.575234, 106.531877)


def test_the_public_list_and_map_show_registered_cases_with_masked_text_and_no_personal_data(app, client):
    r = registered("车牌渝A12345的车天天停在人行道上")
    other = report("还没立案的问题")
    html = client.get("/cases").get_data(as_text=True)
    assert f'data-case="{r.case_number}"' in html and "渝A***45" in html and "渝A12345" not in html
    assert f'data-case="{other.case_number}"' in html and "还没立案的问题" not in html
    points = client.get("/cases/map.json").json["points"]
    assert {p["case_number"] for p in points} == {r.case_number, other.case_number}
    assert all(set(p) == {"case_number", "lat", "lng", "status", "status_label", "category"} for p in points)
    o311 = {x["service_request_id"]: x for x in client.get("/open311/v2/requests.json").json}
    assert o311[r.case_number]["description"] == "车牌渝A***45的车天天停在人行道上"
    assert o311[other.case_number]["description"] == ""  # not registered yet
    assert (o311[r.case_number]["lat"], o311[r.case_number]["long"]) == (citizen_view(r).lat, citizen_view(r).lng)
    filtered = client.get("/cases?state=closed").get_data(as_text=True)
    assert r.case_number not in filtered


def test_anyone_can_flag_a_case_within_a_limit_and_flags_enter_the_queue(app, client, as_role):
    r = registered("路边垃圾堆了三天")
    token = csrf_from(client, f"/cases/{r.case_number}")
    res = client.post(
        f"/cases/{r.case_number}/flag", data={"csrf_token": token, "reason": "personal", "note": "有门牌"}
    )
    assert res.status_code == 303
    refused = client.post(f"/cases/{r.case_number}/flag", data={"csrf_token": token, "reason": "nonsense"})
    assert refused.status_code == 303
    assert db.session.scalar(select(func.count()).select_from(CaseFlag)) == 1
    forged = app.test_client().post(f"/cases/{r.case_number}/flag", data={"reason": "abuse"})
    assert forged.status_code == 400  # no CSRF token
    app.config["PUBLIC_FLAG_LIMIT"] = 3
    codes = [
        client.post(f"/cases/{r.case_number}/flag", data={"csrf_token": token, "reason": "abuse"}).status_code
        for _ in range(4)
    ]
    assert codes == [303, 303, 429, 429]  # the first flag counted towards the hour too
    assert db.session.scalar(select(func.count()).select_from(CaseFlag)) == 3
    queue = as_role("moderator").get("/console/moderation/").get_data(as_text=True)
    assert "泄露个人信息（有门牌）" in queue


def test_only_moderators_and_admins_moderate(app, as_role):
    r = registered("狗官")
    disp = as_role("dispatcher")
    assert disp.get("/console/moderation/").status_code == 403
    token = csrf_from(disp, "/console/")
    assert disp.post(f"/console/moderation/{r.id}/approve", data={"csrf_token": token}).status_code == 403
    db.session.expire_all()
    assert db.session.get(Report, r.id).moderation == "flagged"


def test_a_moderator_mutes_the_reporter_from_a_case_without_seeing_their_openid(app, as_role):
    r = registered("狗官不作为")
    openid = db.session.scalar(select(Report).where(Report.id == r.id)).citizen_id
    mod = as_role("moderator")
    html = mod.get("/console/moderation/").get_data(as_text=True)
    assert not re.search(r"oTestCitizen\d+", html)
    token = csrf_from(mod, "/console/moderation/")
    res = mod.post(
        f"/console/moderation/{r.id}/reporter/mute", data={"csrf_token": token, "reason": "辱骂", "days": "7"}
    )
    assert res.status_code == 303
    [row] = db.session.scalars(select(CitizenSanction)).all()
    assert row.citizen_id == openid and row.kind == "mute" and row.created_by == "moderator测试"
    mod.post(f"/console/moderation/{r.id}/reporter/lift", data={"csrf_token": token})
    db.session.expire_all()
    assert db.session.get(CitizenSanction, row.id).lifted_at is not None


def test_the_street_view_counts_by_the_assessments_definitions(app, client):
    done = registered("路灯坏了")
    for action in ("dispatch", "handle", "verify", "close"):
        transition(done.id, action, ADMIN, note="已修复" if action == "handle" else None)
    registered("井盖缺失")
    report("还没立案")
    html = client.get("/cases/streets").get_data(as_text=True)
    row = re.search(r'<tr data-street="([^"]+)"><td><a[^>]*>([^<]+)</a></td>\s*<td>(\d+)</td>\s*<td>([^<]+)</td>\s*'
                    r'<td>([^<]+)</td>', html)
    assert row, html
    assert row.group(3) == "3" and row.group(4) == "50.0%" and row.group(5) == "50.0%"
    assert client.get("/cases/streets?period=2026-13").status_code == 400
