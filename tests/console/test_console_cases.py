"""The console's case list, case detail and actions, bulk dispatch, photos, dashboard and admin pages."""

import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.events import utcnow
from app.extensions import db
from app.reports.categories import suggest_category
from app.reports.grids import resolve_department
from app.reports.models import Category, Department, Report, RoutingRule
from app.reports.services import transition
from tests.console.conftest import csrf_from
from tests.factories import actor, department_id, jpeg_bytes, report


def case_numbers(html: str) -> set[str]:
    return set(re.findall(r'data-case="([A-Z0-9]+)"', html))


def post_action(c, r, action, **data):
    if "csrf_token" not in data:
        data["csrf_token"] = csrf_from(c, f"/console/cases/{r.id}")
    data.setdefault("expected_version", str(db.session.get(Report, r.id).version))
    return c.post(f"/console/cases/{r.id}/actions/{action}", data=data, content_type="multipart/form-data")


def test_the_case_list_filters_by_every_field_and_counts_per_status(app, as_role):
    stall = report("路口有人摆摊", category_code="E0504")
    ads = report("墙上小广告", category_code="E0201", channel="hotline")
    old = report("井盖没了", lat=29.60)
    transition(stall.id, "register", actor("dispatcher"))
    old.submitted_at = utcnow() - timedelta(days=10)
    db.session.commit()
    c = as_role("admin")
    listing = lambda **q: case_numbers(c.get("/console/", query_string=q).get_data(as_text=True))  # noqa: E731
    assert listing() == {stall.case_number, ads.case_number, old.case_number}
    assert listing(status="registered") == {stall.case_number}
    assert listing(category="E05") == {stall.case_number}
    assert listing(category="E0201") == {ads.case_number}
    assert listing(channel="hotline") == {ads.case_number}
    assert listing(q=stall.case_number.lower()) == {stall.case_number}
    assert listing(department="JB-S-GYQ") >= {stall.case_number}
    assert listing(date_to=(utcnow() - timedelta(days=5)).date().isoformat()) == {old.case_number}
    assert listing(date_from=(utcnow() - timedelta(days=1)).date().isoformat()) == {stall.case_number, ads.case_number}
    assert listing(grid=stall.grid.code) >= {stall.case_number}
    assert listing(overdue="1") == set()
    html = c.get("/console/", query_string={"status": "registered"}).get_data(as_text=True)
    counts = dict(re.findall(r'data-status="(\w+)">[^<]*<b>(\d+)</b>', html))
    assert counts["reported"] == "2" and counts["registered"] == "1" and counts["closed"] == "0"


def test_the_case_list_sorts_and_paginates(app, as_role):
    cases = [report(f"小广告 {i}", lat=29.57 + i * 0.01) for i in range(5)]
    c = as_role("admin")
    html = c.get("/console/", query_string={"per_page": 2, "sort": "oldest"}).get_data(as_text=True)
    order = re.findall(r'data-case="([A-Z0-9]+)"', html)
    assert order == [cases[0].case_number, cases[1].case_number] and "第 1 / 3 页" in html
    page3 = c.get("/console/", query_string={"per_page": 2, "sort": "oldest", "page": 3}).get_data(as_text=True)
    assert re.findall(r'data-case="([A-Z0-9]+)"', page3) == [cases[4].case_number]
    newest = c.get("/console/", query_string={"per_page": 1}).get_data(as_text=True)
    assert re.findall(r'data-case="([A-Z0-9]+)"', newest) == [cases[4].case_number]


def test_bad_filters_get_a_clear_message_and_a_400(app, as_role):
    c = as_role("admin")
    for query, words in [
        ({"status": "lost"}, "未知状态"),
        ({"date_from": "yesterday"}, "YYYY-MM-DD"),
        ({"page": "0"}, "page"),
        ({"sort": "random"}, "sort"),
        ({"grid": "NOWHERE"}, "未知网格"),
        ({"department": "NOPE"}, "未知单位"),
    ]:
        response = c.get("/console/", query_string=query)
        assert response.status_code == 400 and words in response.get_data(as_text=True), query


def test_a_handler_sees_only_their_own_departments_cases(app, as_role):
    mine = report("路口有人摆摊", category_code="E0504")  # routed to 观音桥街道
    other = report("垃圾没人收", category_code="E0102")  # routed to 环卫所
    assert mine.department_id == department_id("JB-S-GYQ") and other.department_id != mine.department_id
    c = as_role("handler")
    assert case_numbers(c.get("/console/").get_data(as_text=True)) == {mine.case_number}
    assert c.get(f"/console/cases/{mine.id}").status_code == 200
    assert c.get(f"/console/cases/{other.id}").status_code == 404
    assert c.get("/console/", query_string={"q": other.case_number}).get_data(as_text=True).count("data-case=") == 0
    token = csrf_from(c, f"/console/cases/{mine.id}")
    assert post_action(c, other, "handle", note="x", csrf_token=token).status_code == 404
    db.session.expire_all()
    assert (db.session.get(Report, other.id).status, db.session.get(Report, other.id).version) == ("reported", 1)


def test_the_whole_loop_runs_through_the_console_forms_with_a_handling_photo(app, as_role):
    r = report("路口有人摆摊", category_code="E0504")
    dispatcher, handler, inspector = as_role("dispatcher"), as_role("handler"), as_role("inspector")
    page = dispatcher.get(f"/console/cases/{r.id}").get_data(as_text=True)
    assert set(re.findall(r'data-action="(\w+)"', page)) >= {"register", "cancel", "mark_duplicate"}
    assert 'data-action="verify"' not in page
    assert post_action(dispatcher, r, "register").status_code == 302
    assert post_action(dispatcher, r, "dispatch", department="JB-S-GYQ").status_code == 302
    photo = (io.BytesIO(jpeg_bytes()), "after.jpg")
    response = post_action(handler, r, "handle", note="已劝离摊贩", photos=photo)
    assert response.status_code == 302, response.get_data(as_text=True)
    assert post_action(inspector, r, "verify").status_code == 302
    assert post_action(inspector, r, "close").status_code == 302
    db.session.expire_all()
    done = db.session.get(Report, r.id)
    assert done.status == "closed"
    assert [e.action for e in done.trail] == ["submit", "register", "dispatch", "handle", "verify", "close"]
    [handling] = [p for p in done.photos if p.kind == "handling"]
    assert handling.status == "stored"
    thumb = handler.get(f"/console/media/{handling.sha256}/thumb")
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg" and "private" in thumb.headers["Cache-Control"]
    assert handler.get(f"/console/media/{handling.sha256}/original").data[:2] == b"\xff\xd8"
    public = app.test_client().get(f"/cases/{r.case_number}").get_data(as_text=True)
    assert "已结案" in public and public.count("data-action=") == 6


def test_photos_are_only_for_staff_who_may_see_the_case(app, as_role):
    r = report("路口有人摆摊", category_code="E0504")
    c = as_role("dispatcher")
    transition(r.id, "register", actor("dispatcher"))
    transition(r.id, "dispatch", actor("dispatcher"), department_code="JB-S-GYQ")
    post_action(as_role("handler"), r, "handle", note="好了", photos=(io.BytesIO(jpeg_bytes()), "a.jpg"))
    sha = db.session.scalar(select(Report).where(Report.id == r.id)).photos[0].sha256
    assert c.get(f"/console/media/{sha}/original").status_code == 200
    assert app.test_client().get(f"/console/media/{sha}/original").status_code == 302  # to the login page
    assert as_role("handler_hxj").get(f"/console/media/{sha}/original").status_code == 404
    assert c.get("/console/media/../../etc/passwd/original").status_code == 404
    assert c.get(f"/console/media/{'0' * 64}/original").status_code == 404


def test_a_stale_form_shows_a_conflict_and_changes_nothing(app, as_role):
    r = report()
    c = as_role("dispatcher")
    token = csrf_from(c, f"/console/cases/{r.id}")
    transition(r.id, "register", actor("dispatcher"))  # someone else, in between
    response = post_action(c, r, "cancel", csrf_token=token, expected_version="1", cancel_reason="invalid")
    assert response.status_code == 409 and "操作冲突" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Report, r.id).status == "registered"


def test_an_out_of_order_step_is_409_and_a_forbidden_role_is_403(app, as_role):
    r = report()
    out_of_order = post_action(as_role("dispatcher"), r, "close")
    assert out_of_order.status_code == 409 and "不能执行" in out_of_order.get_data(as_text=True)
    forbidden = post_action(as_role("inspector"), r, "register")
    assert forbidden.status_code == 403 and "不能执行" in forbidden.get_data(as_text=True)
    missing_note = post_action(as_role("dispatcher"), r, "cancel")
    assert missing_note.status_code == 400 and "注销需要原因" in missing_note.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Report, r.id).status == "reported"


def test_a_bad_handling_photo_is_refused_and_the_case_stays_dispatched(app, as_role):
    r = report("路口有人摆摊", category_code="E0504")
    transition(r.id, "register", actor("dispatcher"))
    transition(r.id, "dispatch", actor("dispatcher"), department_code="JB-S-GYQ")
    response = post_action(as_role("handler"), r, "handle", note="好了", photos=(io.BytesIO(b"not an image"), "x.jpg"))
    assert response.status_code == 400 and "照片未通过检查" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Report, r.id).status == "dispatched"


def test_mark_duplicate_takes_a_case_number(app, as_role):
    first = report("井盖没了")
    second = report("井盖没了")
    response = post_action(as_role("dispatcher"), second, "mark_duplicate", duplicate_of=first.case_number)
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Report, second.id).duplicate_of_id == first.id
    page = as_role("dispatcher").get(f"/console/cases/{first.id}").get_data(as_text=True)
    assert "疑似重复" in page


def test_bulk_dispatch_registers_and_dispatches_the_selected_cases(app, as_role):
    a, b, untouched = report(), report(lat=29.60), report(lat=29.61)
    c = as_role("dispatcher")
    token = csrf_from(c, "/console/")
    response = c.post("/console/cases/bulk-dispatch",
                      data={"csrf_token": token, "department": "JB-SZS", "case_id": [str(a.id), str(b.id)]})
    assert response.status_code == 302
    db.session.expire_all()
    szs = department_id("JB-SZS")
    for r in (a, b):
        got = db.session.get(Report, r.id)
        assert got.status == "dispatched" and got.department_id == szs and got.deadline_at is not None
    assert db.session.get(Report, untouched.id).status == "reported"
    handler = as_role("handler")
    refused = handler.post("/console/cases/bulk-dispatch", data={
        "csrf_token": csrf_from(handler, "/console/"), "department": "JB-SZS", "case_id": [str(untouched.id)]})
    assert refused.status_code == 403
    db.session.expire_all()
    assert db.session.get(Report, untouched.id).status == "reported"


def map_options(html: str) -> dict:
    """The options the case page hands to casemap.js (data-options: no inline script under the CSP)."""
    import html as htmllib
    import json

    m = re.search(r'data-map="(?:single|cases)"\s+data-options="([^"]*)"', html)
    assert m, "no map on the page"
    return json.loads(htmllib.unescape(m.group(1)))


def test_the_case_map_is_blank_without_a_tile_url_and_uses_the_tiles_with_one(app, as_role):
    r = report()
    c = as_role("admin")
    html = c.get(f"/console/cases/{r.id}").get_data(as_text=True)
    assert 'id="map-placeholder"' in html and map_options(html)["tileUrl"] == "" and "vendor/leaflet/leaflet.js" in html
    app.config["MAP_TILE_URL"] = "https://tiles.example.org/{z}/{x}/{y}.png"
    html = c.get(f"/console/cases/{r.id}").get_data(as_text=True)
    assert map_options(html)["tileUrl"] == "https://tiles.example.org/{z}/{x}/{y}.png"
    assert 'id="map-placeholder"' not in html


@pytest.mark.parametrize("crs", ["wgs84", "gcj02"])
def test_the_map_places_the_case_in_the_tiles_own_datum(app, as_role, crs):
    """Chinese tile servers draw GCJ-02: with MAP_TILE_CRS=gcj02 the case page's pin and the map's points are the
    case's GCJ-02 coordinates (about 500 m from the WGS-84 ones in Chongqing); on WGS-84 tiles, the stored ones."""
    from app import geo

    r = report()
    app.config.update(MAP_TILE_URL="https://tiles.example.org/{z}/{x}/{y}.png", MAP_TILE_CRS=crs)
    c = as_role("admin")
    opts = map_options(c.get(f"/console/cases/{r.id}").get_data(as_text=True))
    want = tuple(round(v, 6) for v in geo.from_wgs84(r.lat, r.lng, crs))
    assert (opts["lat"], opts["lng"]) == want
    [point] = c.get("/console/map/points.json").get_json()["points"]
    assert tuple(point[2:4]) == want
    if crs == "gcj02":  # not the WGS-84 placement: the shift is hundreds of metres here
        assert geo.distance_m(want, (r.lat, r.lng)) > 300



def test_the_dashboard_draws_charts_from_real_figures(app, as_role):
    r = report("路口有人摆摊", category_code="E0504")
    for action, kw in [("register", {}), ("dispatch", {"department_code": "JB-S-GYQ"})]:
        transition(r.id, action, actor("dispatcher"), **kw)
    transition(r.id, "handle", actor("handler", "JB-S-GYQ"), note="ok")
    transition(r.id, "verify", actor("inspector"))
    r = transition(r.id, "close", actor("inspector"))
    r.submitted_at = r.closed_at - timedelta(hours=6)
    db.session.commit()
    report("墙上小广告", category_code="E0201")
    html = as_role("admin").get("/console/dashboard").get_data(as_text=True)
    assert html.count("<svg") == 5 and "共 2 件" in html
    assert re.search(r'id="median-close">6\.0', html)
    assert "街面秩序" in html and "宣传广告" in html and "<rect" in html
    scoped = as_role("handler_hxj").get("/console/dashboard").get_data(as_text=True)
    assert "共 0 件" in scoped  # a handler's dashboard counts only their department's cases


def test_admins_edit_a_category_and_keyword_suggestions_follow(app, as_role):
    c = as_role("admin")
    token = csrf_from(c, "/console/admin/categories")
    form = {"csrf_token": token, "time_limit_hours": "12", "department": "JB-HWS", "active": "1"}
    form["keywords"] = "小广告, 贴纸:2"
    response = c.post("/console/admin/categories/E0201", data=form)
    assert response.status_code == 302
    cat = db.session.scalar(select(Category).where(Category.code == "E0201"))
    assert cat.time_limit_hours == 12 and cat.default_department_id == department_id("JB-HWS")
    assert sorted(k.keyword for k in cat.keywords) == ["小广告", "贴纸"]
    assert suggest_category("电线杆上全是贴纸")[0].code == "E0201"
    bad = c.post("/console/admin/categories/E0201", data={"csrf_token": token, "time_limit_hours": "0",
                                                          "keywords": "", "active": "1"})
    assert bad.status_code == 400 and "处置时限" in bad.get_data(as_text=True)
    db.session.expire_all()
    cat = db.session.scalar(select(Category).where(Category.code == "E0201"))
    assert cat.time_limit_hours == 12 and sorted(k.keyword for k in cat.keywords) == ["小广告", "贴纸"]  # as it was


def test_admins_edit_departments_and_routing_rules(app, as_role):
    c = as_role("admin")
    token = csrf_from(c, "/console/admin/departments")
    assert c.post("/console/admin/departments", data={"csrf_token": token, "code": "JB-NEW", "name": "新单位",
                                                      "kind": "unit", "active": "1"}).status_code == 302
    assert db.session.scalar(select(Department).where(Department.code == "JB-NEW")).name == "新单位"
    departments = db.session.scalar(select(func.count()).select_from(Department))
    bad = c.post("/console/admin/departments", data={"csrf_token": token, "code": "x", "name": "", "kind": "unit"})
    assert bad.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(Department)) == departments
    cat = db.session.scalar(select(Category).where(Category.code == "E0504"))
    assert c.post("/console/admin/routing", data={"csrf_token": token, "category": "E0504", "grid": "",
                                                  "department": "JB-NEW"}).status_code == 302
    assert resolve_department(cat, None) == department_id("JB-NEW")
    rule = db.session.scalar(select(RoutingRule))
    assert c.post(f"/console/admin/routing/{rule.id}/delete", data={"csrf_token": token}).status_code == 302
    assert resolve_department(cat, None) != department_id("JB-NEW")
    unknown = c.post("/console/admin/routing", data={"csrf_token": token, "category": "E9999", "department": "JB-NEW"})
    assert unknown.status_code == 400 and "没有类别" in unknown.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(RoutingRule)) == 0  # the deleted rule, and no new one


def test_admins_add_rename_move_and_retire_categories_and_codes_stay(app, as_role):
    c = as_role("admin")
    token = csrf_from(c, "/console/admin/categories")
    new = {"csrf_token": token, "code": "E06", "name": "新大类", "kind": "event", "parent": ""}
    assert c.post("/console/admin/categories", data=new).status_code == 302
    sub = {"csrf_token": token, "code": "E0601", "name": "共享单车乱停", "kind": "event", "parent": "E06",
           "time_limit_hours": "12"}
    assert c.post("/console/admin/categories", data=sub).status_code == 302
    again = c.post("/console/admin/categories", data=sub)
    assert again.status_code == 400 and "已存在" in again.get_data(as_text=True)
    wrong_kind = dict(sub, code="C0699", kind="component")
    assert c.post("/console/admin/categories", data=wrong_kind).status_code == 400
    case = report("路口共享单车乱停", category_code="E0601")
    row = {"csrf_token": token, "time_limit_hours": "12", "department": "", "keywords": "单车", "active": "1",
           "name": "共享单车乱停放", "parent": "E05"}
    assert c.post("/console/admin/categories/E0601", data=row).status_code == 302  # renamed and moved
    cat = db.session.scalar(select(Category).where(Category.code == "E0601"))
    assert cat.name == "共享单车乱停放" and cat.parent.code == "E05" and cat.class_code == "E05"
    assert c.post("/console/admin/categories/E05", data=dict(row, parent="E01")).status_code == 400
    assert c.post("/console/admin/categories/E0601", data=dict(row, parent="C01")).status_code == 400
    retire = dict(row)
    retire.pop("active")
    assert c.post("/console/admin/categories/E0601", data=retire).status_code == 302
    db.session.expire_all()
    assert not db.session.scalar(select(Category).where(Category.code == "E0601")).active
    page = c.get(f"/console/cases/{case.id}").get_data(as_text=True)
    assert "E0601 共享单车乱停放" in page  # a retired category stays readable on its cases
    services = c.get("/open311/v2/services.json").get_json()
    assert "E0601" not in {s["service_code"] for s in services}
    assert as_role("dispatcher").get("/console/admin/categories").status_code == 403
