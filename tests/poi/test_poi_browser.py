"""The sign page and the not-found page in headless Chromium at a phone's viewport."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import select

from app.extensions import db
from app.geo import from_wgs84
from app.poi.models import Sign
from app.poi.services import nearest_pois
from tests.conftest import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.phone]

MAP_HOSTS = ("apis.map.qq.com", "uri.amap.com", "api.map.baidu.com")


def _stub_map_apps(page, seen: list[str]):
    """The map apps' pages are outside our network: answer them locally and remember the URL the link opened."""

    def answer(route):
        seen.append(route.request.url)
        route.fulfill(status=200, content_type="text/html; charset=utf-8", body="<p>地图</p>")

    for host in MAP_HOSTS:
        page.route(f"https://{host}/**", answer)


def test_a_resident_scans_a_sign_sees_the_nearest_in_order_and_opens_amap_at_the_right_spot(page, live_server, demo):
    sign = db.session.scalar(select(Sign).where(Sign.code == "DEMO01"))
    want = nearest_pois(sign.lat, sign.lng, category="toilet", k=3)
    db.session.commit()
    page.goto(f"{live_server}/s/DEMO01")
    assert page.locator("h1").inner_text() == "观音桥步行街北口"
    assert page.locator("section[data-category] h2").all_inner_texts()[0].endswith("公厕")
    toilets = page.locator('section[data-category="toilet"] li.poi')
    assert toilets.count() == 3
    assert toilets.locator(".name").all_inner_texts() == [p.name for p in want]
    shown = [float(x) for x in [toilets.nth(i).get_attribute("data-distance-m") for i in range(3)]]
    assert shown == sorted(shown) and shown == pytest.approx([p.distance_m for p in want], abs=0.06)
    assert toilets.first.locator(".dist").inner_text() == f"{round(want[0].distance_m)} 米"
    # readable on a phone: body text at least 16 px, nothing wider than the screen
    assert float(page.evaluate("getComputedStyle(document.querySelector('.addr')).fontSize").rstrip("px")) >= 16
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "poi_sign_page_phone.png"), full_page=True)
    seen: list[str] = []
    _stub_map_apps(page, seen)
    toilets.first.locator('a[data-app="amap"]').click()
    page.wait_for_url("https://uri.amap.com/**")
    query = parse_qs(urlparse(seen[-1]).query)
    lng, lat = (float(v) for v in query["to"][0].split(",")[:2])
    assert (lat, lng) == pytest.approx(from_wgs84(want[0].lat, want[0].lng, "gcj02"), abs=2e-6)
    assert query["to"][0].endswith(want[0].name)


def test_the_baidu_link_opens_with_bd09_coordinates(page, live_server, demo):
    sign = db.session.scalar(select(Sign).where(Sign.code == "DEMO03"))
    first = nearest_pois(sign.lat, sign.lng, category="parking", k=1)[0]
    db.session.commit()
    page.goto(f"{live_server}/s/DEMO03")
    seen: list[str] = []
    _stub_map_apps(page, seen)
    page.locator('section[data-category="parking"] li.poi').first.locator('a[data-app="baidu"]').click()
    page.wait_for_url("https://api.map.baidu.com/**")
    destination = parse_qs(urlparse(seen[-1]).query)["destination"][0]
    lat, lng = (float(v) for v in destination.split("|")[0].removeprefix("latlng:").split(","))
    assert (lat, lng) == pytest.approx(from_wgs84(first.lat, first.lng, "bd09"), abs=2e-6)


def test_an_unknown_sign_still_finds_the_nearest_from_the_phones_own_location(page, live_server, demo):
    near = nearest_pois(29.5722, 106.5389, k=10)
    db.session.commit()
    page.context.grant_permissions(["geolocation"])
    page.context.set_geolocation({"latitude": 29.5722, "longitude": 106.5389})
    response = page.goto(f"{live_server}/s/GONE99")
    assert response.status == 404
    page.get_by_role("button", name="查找我附近的便民设施").click()
    page.locator("#results li.poi").first.wait_for()
    names = page.locator("#results li.poi .name").all_inner_texts()
    assert names == [f"{p.category_name}：{p.name}" for p in near]
    assert "步行约" in page.locator("#results li.poi .meta").first.inner_text()
