"""The map's JSON: the list's filters and scope, a cap on points, grid outlines, tiles' datum, and the comment form."""

from __future__ import annotations

from app.reports.services import transition
from tests.console.conftest import csrf_from
from tests.factories import actor, report


def dispatched(description, dept, **kw):
    r = report(description, **kw)
    transition(r.id, "register", actor("dispatcher"))
    transition(r.id, "dispatch", actor("dispatcher"), department_code=dept)
    return r


def test_points_follow_the_filters_and_a_handler_sees_only_their_department(as_role):
    mine = dispatched("路口有人摆摊卖水果", "JB-S-GYQ")
    other = dispatched("井盖破损", "JB-S-HXJ", lat=29.60, lng=106.55)
    everything = as_role("dispatcher").get("/console/map/points.json").get_json()
    assert {p[1] for p in everything["points"]} == {mine.case_number, other.case_number}
    assert everything["crs"] == "wgs84" and everything["truncated"] is False
    searched = as_role("dispatcher").get("/console/map/points.json?q=井盖").get_json()
    assert [p[1] for p in searched["points"]] == [other.case_number]
    own = as_role("handler").get("/console/map/points.json").get_json()
    assert [p[1] for p in own["points"]] == [mine.case_number]


def test_the_map_is_for_staff_only_and_refuses_bad_filters(client, as_role):
    for path in ("/console/map", "/console/map/points.json", "/console/map/grids.json"):
        assert client.get(path).status_code == 302  # to the login page
    assert as_role("dispatcher").get("/console/map/points.json?grid=NOPE").status_code == 400


def test_points_are_capped_and_the_answer_says_so(app, as_role):
    app.config["MAP_MAX_POINTS"] = 2
    for i in range(3):
        report(f"摆摊 {i}")
    body = as_role("dispatcher").get("/console/map/points.json").get_json()
    assert len(body["points"]) == 2 and body["truncated"] is True


def test_with_gcj02_tiles_points_and_outlines_are_shifted_to_match(app, as_role):
    r = report("路口有人摆摊卖水果")
    app.config.update(MAP_TILE_URL="https://tiles.example.org/{z}/{x}/{y}.png", MAP_TILE_CRS="gcj02")
    body = as_role("dispatcher").get("/console/map/points.json").get_json()
    lat, lng = body["points"][0][2:4]
    assert body["crs"] == "gcj02" and 0.001 < abs(lat - r.lat) + abs(lng - r.lng) < 0.01
    grids = as_role("dispatcher").get("/console/map/grids.json").get_json()
    assert grids["type"] == "FeatureCollection" and len(grids["features"]) >= 10


def test_a_comment_from_the_case_page_lands_on_the_trail_and_others_cannot_comment(as_role):
    mine = dispatched("路口有人摆摊卖水果", "JB-S-GYQ")
    other = dispatched("井盖破损", "JB-S-HXJ", lat=29.60, lng=106.55)
    c = as_role("handler")
    token = csrf_from(c, f"/console/cases/{mine.id}")
    response = c.post(f"/console/cases/{mine.id}/comments", data={"csrf_token": token, "note": "已联系摊主"})
    assert response.status_code == 302
    assert "已联系摊主" in c.get(f"/console/cases/{mine.id}").get_data(as_text=True)
    assert c.post(f"/console/cases/{other.id}/comments", data={"csrf_token": token, "note": "x"}).status_code == 404
    assert c.post(f"/console/cases/{mine.id}/comments", data={"note": "no token"}).status_code == 400
    stale = c.post(f"/console/cases/{mine.id}/comments",
                   data={"csrf_token": token, "note": "旧页面", "expected_version": "1"}, follow_redirects=True)
    assert "备注未保存" in stale.get_data(as_text=True)
    long = c.post(f"/console/cases/{mine.id}/comments", data={"csrf_token": token, "note": "长" * 2001},
                  follow_redirects=True)
    assert "备注未保存" in long.get_data(as_text=True)
