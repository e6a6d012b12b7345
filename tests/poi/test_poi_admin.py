"""POI admin pages: admins add and edit POIs (any coordinate system), categories and signs; sign pages follow."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.geo import from_wgs84
from app.poi.models import Poi, PoiCategory, Sign
from tests.conftest import ARTIFACTS
from tests.console.conftest import PASSWORDS, csrf_from


def demo_sign() -> Sign:
    return db.session.scalar(select(Sign).where(Sign.code == "DEMO01"))


def poi_form(client, **fields):
    token = csrf_from(client, "/poi/staff/pois/new")
    data = {"csrf_token": token, "category": "toilet", "crs": "wgs84", "active": "1", **fields}
    return client.post(fields.pop("url", "/poi/staff/pois/new"), data=data)


def test_only_admins_reach_the_poi_pages(app, client, staff, as_role, demo):
    for path in ("/poi/staff/pois", "/poi/staff/pois/new", "/poi/staff/categories", "/poi/staff/signs"):
        assert client.get(path).status_code == 302  # to the login page
        assert as_role("dispatcher").get(path).status_code == 403
        assert as_role("admin").get(path).status_code == 200
    assert "便民设施" in as_role("admin").get("/console/").get_data(as_text=True)


def test_a_poi_typed_in_gcj02_is_stored_in_wgs84_and_shows_on_the_nearest_sign_at_once(as_role, client, demo):
    admin = as_role("admin")
    sign = demo_sign()
    lat, lng = from_wgs84(sign.lat + 0.00005, sign.lng, "gcj02")  # what the admin reads off Amap, 5 m away
    res = poi_form(admin, name="街角新建公厕", lat=f"{lat:.7f}", lng=f"{lng:.7f}", crs="gcj02",
                   opening_hours="06:00-22:00", accessible="1", address="观音桥步行街北口")
    assert res.status_code == 302
    poi = db.session.scalar(select(Poi).where(Poi.name == "街角新建公厕"))
    assert poi.source == "admin" and poi.raw_crs == "gcj02" and poi.accessible and poi.external_id.startswith("admin-")
    assert abs(poi.lat - (sign.lat + 0.00005)) < 1e-5 and abs(poi.lng - sign.lng) < 1e-5  # back to WGS-84
    db.session.commit()
    page = client.get("/s/DEMO01").get_data(as_text=True)
    assert "街角新建公厕" in page  # no restart, no refresh call: the commit bumped the index


def test_bad_input_is_shown_on_the_form_and_nothing_is_written(as_role, demo):
    admin = as_role("admin")
    before = db.session.scalar(select(db.func.count()).select_from(Poi))
    for fields, message in (
        ({"name": "公厕", "lat": "29.57", "lng": "106.53", "opening_hours": "早上到晚上"},
         "营业时间「早上到晚上」无法识别"),
        ({"name": "公厕", "lat": "91", "lng": "106.53"}, "纬度"),
        ({"name": "", "lat": "29.57", "lng": "106.53"}, "缺少 name"),
        ({"name": "公厕", "lat": "29.57", "lng": "106.53", "category": "nope"}, "未知类别"),
        ({"name": "公厕", "lat": "29.57", "lng": "106.53", "spaces": "-3"}, "spaces"),
    ):
        res = poi_form(admin, **fields)
        assert res.status_code == 400
        error = re.search(r'id="form-error" role="alert">([^<]*)<', res.get_data(as_text=True)).group(1)
        assert message in error, (fields, error)
    assert db.session.scalar(select(db.func.count()).select_from(Poi)) == before


def test_editing_and_retiring_a_poi_takes_it_off_the_sign_page(as_role, client, demo):
    admin = as_role("admin")
    sign = demo_sign()
    nearest = client.get("/api/poi/nearby", query_string={"lat": sign.lat, "lng": sign.lng, "category": "toilet",
                                                          "limit": 1}).get_json()["results"][0]
    url = f"/poi/staff/pois/{nearest['id']}"
    form = admin.get(url).get_data(as_text=True)
    assert nearest["name"] in form
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    poi = db.session.get(Poi, nearest["id"])
    base = {"csrf_token": token, "category": "toilet", "crs": poi.raw_crs, "lat": poi.raw_lat, "lng": poi.raw_lng}
    assert admin.post(url, data={**base, "name": "改名后的公厕", "active": "1"}).status_code == 302
    db.session.commit()
    assert "改名后的公厕" in client.get("/s/DEMO01").get_data(as_text=True)
    assert admin.post(url, data={**base, "name": "改名后的公厕"}).status_code == 302  # active unticked
    db.session.commit()
    assert "改名后的公厕" not in client.get("/s/DEMO01").get_data(as_text=True)


def test_a_post_without_the_csrf_token_changes_nothing(as_role, demo):
    admin = as_role("admin")
    res = admin.post("/poi/staff/pois/new", data={"name": "无令牌", "category": "toilet", "lat": "29.57",
                                                  "lng": "106.53", "crs": "wgs84"})
    assert res.status_code == 400
    assert db.session.scalar(select(Poi).where(Poi.name == "无令牌")) is None
    assert admin.post("/poi/staff/signs", data={"sign_id": demo_sign().id, "label": "x"}).status_code == 400
    db.session.expire_all()
    assert demo_sign().label == "观音桥步行街北口"


def test_admins_add_categories_and_hide_them(as_role, client, demo):
    admin = as_role("admin")
    token = csrf_from(admin, "/poi/staff/categories")
    admin.post("/poi/staff/categories", data={"csrf_token": token, "action": "create", "code": "charging",
                                              "name": "充电桩", "icon": "🔌", "sort": "50"})
    category = db.session.scalar(select(PoiCategory).where(PoiCategory.code == "charging"))
    assert category is not None and category.name == "充电桩" and category.active
    bad = admin.post("/poi/staff/categories", data={"csrf_token": token, "action": "create", "code": "Bad Code",
                                                    "name": "x"}, follow_redirects=True)
    assert "代码应为" in bad.get_data(as_text=True)
    dup = admin.post("/poi/staff/categories", data={"csrf_token": token, "action": "create", "code": "charging",
                                                    "name": "重复"}, follow_redirects=True)
    assert "已存在" in dup.get_data(as_text=True)
    sign = demo_sign()
    assert poi_form(admin, name="观音桥充电站", category="charging", lat=sign.lat, lng=sign.lng).status_code == 302
    db.session.commit()
    assert "充电桩" in client.get("/s/DEMO01").get_data(as_text=True)
    toilet = db.session.scalar(select(PoiCategory).where(PoiCategory.code == "charging"))
    admin.post("/poi/staff/categories", data={"csrf_token": token, "action": "hide", "category_id": toilet.id})
    db.session.commit()
    assert "观音桥充电站" not in client.get("/s/DEMO01").get_data(as_text=True)


def test_signs_are_listed_with_scans_and_can_be_relabelled_or_retired(as_role, client, demo):
    admin = as_role("admin")
    sign = demo_sign()
    sign.scan_count = 42
    db.session.commit()
    listing = admin.get("/poi/staff/signs", query_string={"q": "DEMO01"}).get_data(as_text=True)
    assert 'data-sign="DEMO01"' in listing and "<td>42</td>" in listing
    token = csrf_from(admin, "/poi/staff/signs")
    admin.post("/poi/staff/signs", data={"csrf_token": token, "sign_id": sign.id, "label": "北口新名字",
                                         "active": "1"})
    db.session.commit()
    assert "北口新名字" in client.get("/s/DEMO01").get_data(as_text=True)
    admin.post("/poi/staff/signs", data={"csrf_token": token, "sign_id": sign.id, "label": "北口新名字"})
    db.session.commit()
    assert client.get("/s/DEMO01").status_code == 404  # retired: the friendly not-found page


@pytest.mark.browser
def test_an_admin_adds_a_poi_in_the_browser_and_a_resident_sees_it_on_the_sign(app, staff, demo, page, live_server):
    sign = demo_sign()
    lat, lng = sign.lat + 0.00003, sign.lng
    db.session.commit()
    page.goto(f"{live_server}/console/login")
    page.fill("#username", "admin")
    page.fill("#password", PASSWORDS["admin"])
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/console/")
    page.click("text=便民设施")
    page.click("text=新增设施")
    page.fill("input[name=name]", "浏览器里添加的公厕")
    page.fill("input[name=lat]", f"{lat:.7f}")
    page.fill("input[name=lng]", f"{lng:.7f}")
    page.select_option("select[name=crs]", "wgs84")
    page.fill("input[name=opening_hours]", "25:00-26:00")
    with page.expect_navigation():
        page.click("#poi-form button[type=submit]")
    assert "营业时间中的 25:00 无效" in page.inner_text("#form-error")  # the error is on the form, the input kept
    assert page.input_value("input[name=name]") == "浏览器里添加的公厕"
    page.fill("input[name=opening_hours]", "24小时")
    with page.expect_navigation():
        page.click("#poi-form button[type=submit]")
    assert "已保存" in page.inner_text("main")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "poi-admin-form.png"), full_page=True)
    page.goto(f"{live_server}/s/DEMO01")
    assert page.locator("text=浏览器里添加的公厕").count() == 1
