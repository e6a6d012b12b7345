"""The sign page /s/<code>, the nearby API, navigation links and scan counting."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import event, select, update

from app.extensions import db
from app.geo import from_wgs84, to_wgs84
from app.poi.models import Sign
from app.poi.nav import navigation_links
from app.poi.services import flush_scans, nearest_by_category, nearest_pois, pending_scans


def sign(code="DEMO01"):
    return db.session.scalar(select(Sign).where(Sign.code == code))


def test_a_sign_page_lists_the_nearest_three_per_category_in_order_with_distances(client, demo):
    s = sign()
    html = client.get("/s/DEMO01").get_data(as_text=True)
    assert s.label in html
    sections = re.findall(r'data-category="([a-z_]+)"', html)
    assert sections == ["toilet", "parking", "police_kiosk", "car_wash"]
    for code in sections:
        want = nearest_pois(s.lat, s.lng, category=code, k=3)
        block = html.split(f'data-category="{code}"')[1].split("</section>")[0]
        ids = [int(x) for x in re.findall(r'data-poi-id="(\d+)"', block)]
        dists = [float(x) for x in re.findall(r'data-distance-m="([\d.]+)"', block)]
        assert ids == [p.id for p in want] and len(ids) == 3
        assert dists == sorted(dists)
        assert dists == pytest.approx([round(p.distance_m, 1) for p in want], abs=0.051)
        for p in want:
            assert f"步行约 {p.walk_minutes} 分钟" in block


def test_the_sign_page_shows_open_state_marks_and_how_to_report(client, demo, clock):
    from datetime import UTC, datetime

    from app.poi.hours import parse_opening_hours
    from app.poi.models import Poi

    db.session.execute(update(Poi).values(opening_hours="06:00-22:00",
                                          opening_hours_parsed=parse_opening_hours("06:00-22:00")))
    db.session.commit()
    states = ("营业中", "已关闭", "时间未知")
    clock.now = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Chongqing: every point is open
    html = client.get("/s/DEMO01").get_data(as_text=True)
    assert [html.count(state) for state in states] == [12, 0, 0]
    clock.now = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # 23:00: every point has closed
    late = client.get("/s/DEMO02").get_data(as_text=True)  # another sign: a page is kept for its wall-clock minute
    assert [late.count(state) for state in states] == [0, 12, 0]
    assert "♿ 无障碍" in html
    assert "在此上报问题" in html and "百姓城管" in html and "DEMO01" in html


def test_the_sign_page_is_small_accessible_and_framework_free(client, demo):
    response = client.get("/s/DEMO01")
    assert response.status_code == 200
    body = response.get_data()
    assert len(body) < 50 * 1024
    html = body.decode()
    assert '<html lang="zh-CN">' in html
    assert 'name="viewport"' in html
    sizes = [int(x) for x in re.findall(r"font[^;{}]*?(\d+)px", html)]
    assert sizes and min(sizes) >= 16
    assert "<script" not in html  # the sign page needs no JavaScript at all
    assert all('aria-label="用' in a for a in re.findall(r'<a [^>]*data-app=[^>]*>', html))
    assert response.headers["Cache-Control"] == "no-cache"


def _coords(value: str) -> tuple[float, float]:
    a, b = value.split(",")[:2]
    return float(a), float(b)


def test_navigation_links_carry_coordinates_in_each_apps_system(client, demo):
    s = sign()
    _, pois = nearest_by_category(s.lat, s.lng, k=1)[0]
    poi = pois[0]
    html = client.get("/s/DEMO01").get_data(as_text=True)
    hrefs = re.findall(r'href="([^"]+)"', html)
    tencent = next(h for h in hrefs if "apis.map.qq.com" in h).replace("&amp;", "&")
    amap = next(h for h in hrefs if "uri.amap.com" in h).replace("&amp;", "&")
    baidu = next(h for h in hrefs if "api.map.baidu.com" in h).replace("&amp;", "&")
    gcj = from_wgs84(poi.lat, poi.lng, "gcj02")
    bd = from_wgs84(poi.lat, poi.lng, "bd09")
    tq = parse_qs(urlparse(tencent).query)
    assert _coords(tq["tocoord"][0]) == pytest.approx(gcj, abs=2e-6) and tq["type"] == ["walk"]
    assert tq["to"] == [poi.name] and tq["from"] == [s.label]
    aq = parse_qs(urlparse(amap).query)
    lng, lat = _coords(aq["to"][0])
    assert (lat, lng) == pytest.approx(gcj, abs=2e-6) and aq["mode"] == ["walk"]
    bq = parse_qs(urlparse(baidu).query)
    assert bq["coord_type"] == ["bd09ll"] and bq["mode"] == ["walking"]
    blat, blng = _coords(bq["destination"][0].split("|")[0].removeprefix("latlng:"))
    assert (blat, blng) == pytest.approx(bd, abs=2e-6)
    # and back: each app's coordinates land within a metre of the POI
    assert to_wgs84(blat, blng, "bd09") == pytest.approx((poi.lat, poi.lng), abs=1e-5)
    assert to_wgs84(lat, lng, "gcj02") == pytest.approx((poi.lat, poi.lng), abs=1e-5)
    assert gcj != pytest.approx((poi.lat, poi.lng), abs=1e-4)  # the offset in China is real (hundreds of metres)


def test_navigation_links_outside_china_use_the_coordinates_unchanged():
    links = navigation_links(51.5007, -0.1246, "Big Ben")
    assert "tocoord=51.500700%2C-0.124600" in links["tencent"]


@pytest.mark.parametrize("code", ["NOSUCH", "RETIRED", "x" * 40])
def test_an_unknown_or_retired_code_gets_a_friendly_page_that_can_search_from_the_phone(client, demo, code):
    db.session.add(Sign(code="RETIRED", label="旧标牌", lat=29.57, lng=106.53, raw_lat=29.57, raw_lng=106.53,
                        raw_crs="wgs84", active=False, scan_count=0))
    db.session.commit()
    response = client.get(f"/s/{code}")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert '<html lang="zh-CN">' in html and "没有找到这块标牌" in html
    assert '<script src="/static/poi/nearby.js">' in html  # a static file: the CSP allows no inline script
    script = client.get("/static/poi/nearby.js")
    source = script.get_data(as_text=True)
    script.close()
    assert "navigator.geolocation" in source and "/api/poi/nearby" in source
    assert "查找我附近的便民设施" in html
    assert pending_scans(code) == 0


def test_scans_are_counted_in_redis_without_a_database_write_and_flushed_later(app, client, runner, demo):
    writes = []

    def record(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            writes.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        for _ in range(3):
            assert client.get("/s/DEMO01").status_code == 200
        client.get("/s/DEMO02")
        client.get("/s/NOSUCH")
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert writes == []
    assert pending_scans("DEMO01") == 3 and pending_scans("DEMO02") == 1
    assert sign().scan_count == 0
    result = runner.invoke(args=["poi", "flush-scans"])
    assert "flushed 4 scan(s)" in result.output
    db.session.expire_all()
    assert sign().scan_count == 3 and sign("DEMO02").scan_count == 1
    assert pending_scans("DEMO01") == 0
    client.get("/s/DEMO01")
    assert flush_scans() == 1 and flush_scans() == 0
    db.session.expire_all()
    assert sign().scan_count == 4


@pytest.mark.app_config(JOBS_MODE="rq")  # with workers (on fakeredis too): scans wait in Redis for the flush job
def test_with_workers_a_scan_is_one_redis_round_trip_and_one_flush_job_per_interval(app, client, demo, run_jobs,
                                                                                   round_trips):
    from app.extensions import get_queue
    from app.poi.services import count_scan

    trips = round_trips
    count_scan("DEMO01")  # the window's first scan also enqueues the flush job (rq's own round trips)
    trips.reset()
    for _ in range(3):
        count_scan("DEMO01")
    assert trips.redis == 3  # count, dirty set and the flush claim together
    assert get_queue("default").job_ids == ["poi-flush-scans"]  # one flush job for the four scans
    run_jobs()
    db.session.expire_all()
    assert sign().scan_count == 4 and pending_scans("DEMO01") == 0


def test_the_nearby_api_answers_in_metres_with_navigation_links(client, demo):
    s = sign()
    data = client.get(f"/api/poi/nearby?lat={s.lat}&lng={s.lng}&category=toilet&limit=4").get_json()
    want = nearest_pois(s.lat, s.lng, category="toilet", k=4)
    assert [r["id"] for r in data["results"]] == [p.id for p in want]
    assert [r["distance_m"] for r in data["results"]] == [round(p.distance_m, 1) for p in want]
    first = data["results"][0]
    assert first["category"] == "toilet" and first["category_name"] == "公厕"
    assert set(first["nav"]) == {"tencent", "amap", "baidu"}
    assert data["origin"] == {"lat": s.lat, "lng": s.lng, "crs": "wgs84"}


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_the_nearby_api_converts_phone_coordinates_from_gcj02_and_bd09(client, demo, crs):
    s = sign()
    lat, lng = from_wgs84(s.lat, s.lng, crs)
    data = client.get(f"/api/poi/nearby?lat={lat}&lng={lng}&crs={crs}").get_json()
    assert data["origin"]["lat"] == pytest.approx(s.lat, abs=1e-6)
    assert [r["id"] for r in data["results"]] == [p.id for p in nearest_pois(s.lat, s.lng, k=5)]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("lng=106.5", "缺少参数"),
        ("lat=29.5", "缺少参数"),
        ("lat=abc&lng=106.5", "必须是数字"),
        ("lat=91&lng=106.5", "纬度 91.0 超出范围"),
        ("lat=29.5&lng=-181", "经度 -181.0 超出范围"),
        ("lat=nan&lng=106.5", "NaN"),
        ("lat=29.5&lng=inf", "NaN 或无穷大"),
        ("lat=29.5&lng=106.5&category=spaceport", "未知的设施类别"),
        ("lat=29.5&lng=106.5&crs=utm", "未知坐标系"),
        ("lat=29.5&lng=106.5&limit=0", "limit"),
        ("lat=29.5&lng=106.5&limit=51", "limit"),
        ("lat=29.5&lng=106.5&limit=five", "limit"),
    ],
)
def test_bad_nearby_parameters_get_400_with_a_message(client, categories, query, message):
    response = client.get(f"/api/poi/nearby?{query}")
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "bad_request" and message in body["message"]


@pytest.mark.app_config(JOBS_MODE="rq")
def test_with_rq_workers_the_first_scan_of_a_window_schedules_one_flush_job(app, client, run_jobs, demo):
    for _ in range(3):
        client.get("/s/DEMO01")
    assert sign().scan_count == 0
    db.session.commit()  # SQLite: end the test's read before the job's write (every transaction is IMMEDIATE)
    run_jobs()
    db.session.expire_all()
    assert sign().scan_count == 3 and pending_scans("DEMO01") == 0
    client.get("/s/DEMO01")  # same window: no second job, the count waits for the next flush
    run_jobs()
    db.session.expire_all()
    assert sign().scan_count == 3 and pending_scans("DEMO01") == 1


def test_the_sign_cache_is_on_by_default_and_a_retired_or_new_sign_is_seen_at_once(app, client, demo):
    assert app.config["POI_SIGN_CACHE_TTL_S"] > 0  # the default: signs from a per-process copy
    assert client.get("/s/DEMO01").status_code == 200
    sign().active = False
    db.session.add(Sign(code="NEW01", label="新标牌", lat=29.57, lng=106.53, raw_lat=29.57, raw_lng=106.53,
                        raw_crs="wgs84", active=True, scan_count=0))
    db.session.commit()  # the commit itself bumps the copy's version (no refresh call needed)
    assert client.get("/s/NEW01").status_code == 200
    assert client.get("/s/DEMO01").status_code == 404
    app.config["POI_SIGN_CACHE_TTL_S"] = 0  # no copy: a database read per scan
    assert client.get("/s/NEW01").status_code == 200 and client.get("/s/DEMO01").status_code == 404


def test_a_sign_edit_reaches_another_web_worker_within_the_check_interval(app, demo, tmp_path):
    import time

    from app import create_app
    from tests.conftest import make_config

    other = create_app(make_config(tmp_path, INDEX_CHECK_INTERVAL_S=0.5))  # same database, its own caches
    other.extensions["redis"] = app.extensions["redis"]  # ... and the same Redis (a no-op on a real one)
    browser = other.test_client()
    reads: list[str] = []
    with other.app_context():
        event.listen(db.engine, "before_cursor_execute", lambda *a: reads.append(a[2]))
    assert browser.get("/s/DEMO01").status_code == 200
    reads.clear()
    for _ in range(5):
        assert browser.get("/s/DEMO01").status_code == 200
    assert not [q for q in reads if "FROM signs" in q]  # served from the worker's copy

    sign().label = "改过名字的标牌"
    db.session.commit()
    deadline = time.monotonic() + 5
    while "改过名字的标牌" not in browser.get("/s/DEMO01").get_data(as_text=True):
        assert time.monotonic() < deadline, "the other worker still shows the old label after 5 s"
        time.sleep(0.1)
    sign().active = False
    db.session.commit()
    deadline = time.monotonic() + 5
    while browser.get("/s/DEMO01").status_code != 404:
        assert time.monotonic() < deadline, "the other worker still shows a retired sign after 5 s"
        time.sleep(0.1)
    with other.app_context():
        db.session.remove()
        db.engine.dispose()


def test_a_sign_page_is_rendered_once_per_minute_and_again_after_the_pois_change(client, demo):
    from app.poi.importer import import_pois

    first = client.get("/s/DEMO01").get_data(as_text=True)
    assert client.get("/s/DEMO01").get_data(as_text=True) == first
    s = sign()
    import_pois(f"external_id,name,category,lat,lng\nZ1,紧挨着的公厕,toilet,{s.lat + 0.00001},{s.lng}\n")
    html = client.get("/s/DEMO01").get_data(as_text=True)
    toilets = html.split('data-category="toilet"')[1].split("</section>")[0]
    assert "紧挨着的公厕" in toilets.split("</li>")[0]
