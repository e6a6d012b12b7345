"""The map, the exports and the phone layout in a real browser (Chromium through Playwright)."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from app.extensions import db
from app.reports.services import transition
from tests.assessment_example import build_example
from tests.console.test_console_browser import log_in
from tests.factories import actor, report

pytestmark = pytest.mark.browser


def test_the_map_draws_grid_outlines_and_clustered_cases_without_any_tiles(app, staff, page, live_server):
    from tests.console.conftest import PASSWORDS

    for i in range(12):
        report(f"观音桥步行街路口有人摆摊 {i}", lat=29.5752 + i * 0.0001, lng=106.5318)
    report("华新街井盖破损", lat=29.5700, lng=106.5400)
    db.session.commit()
    outside = []
    page.on("request", lambda req: outside.append(req.url) if not req.url.startswith(live_server) else None)
    log_in(page, live_server, "dispatcher", PASSWORDS["dispatcher"])
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server}/console/map")
    page.wait_for_selector("#casemap[data-points='13']")
    assert errors == []
    assert page.locator("#casemap path.leaflet-interactive").count() >= 10  # street and community outlines
    assert page.locator(".marker-cluster").count() >= 1  # twelve cases a few metres apart cluster
    assert page.locator(".leaflet-tile").count() == 0  # MAP_TILE_URL unset: a blank ground, no tiles
    assert "共显示 13 件" in page.inner_text("#map-note")
    assert outside == []  # Leaflet and its plugin come from the app's own static files
    page.goto(f"{live_server}/console/map?q=井盖")
    page.wait_for_selector("#casemap[data-points='1']")


def test_the_case_page_shows_the_case_on_the_map(app, staff, page, live_server):
    from tests.console.conftest import PASSWORDS

    r = report("北城天街后门墙上贴满了小广告", category_code="E0201")
    case_id = r.id
    db.session.commit()
    log_in(page, live_server, "dispatcher", PASSWORDS["dispatcher"])
    page.goto(f"{live_server}/console/cases/{case_id}")
    page.wait_for_selector("#casemap[data-points='1']")
    assert page.locator("#casemap path.leaflet-interactive").count() >= 1
    assert page.locator("#before-after [data-kind=report]").is_visible()
    assert page.locator("#before-after [data-kind=handling]").is_visible()


def test_an_export_downloads_from_the_console(app, staff, page, live_server):
    from tests.console.conftest import PASSWORDS

    build_example()
    db.session.commit()
    log_in(page, live_server, "dispatcher", PASSWORDS["dispatcher"])
    page.goto(f"{live_server}/console/assessment?period=2026-11")
    with page.expect_download() as info:
        page.click("#download-assessment")
    download = info.value
    assert download.suggested_filename == "assessment-department-2026-11-01-2026-11-30.xlsx"
    ws = load_workbook(io.BytesIO(download.path().read_bytes()))["综合评价"]
    assert ws["A1"].value == "单位编码" and {ws["A2"].value, ws["A3"].value} == {"JB-S-GYQ", "JB-HWS"}
    page.goto(f"{live_server}/console/?q=示例案件 A10")
    with page.expect_download() as info:
        page.click("#download-csv")
    rows = list(csv.reader(io.StringIO(info.value.path().read_text(encoding="utf-8-sig"))))
    assert rows[0][0] == "案件编号" and len(rows) == 2 and rows[1][7] == "示例案件 A10"


@pytest.mark.phone
def test_a_handler_works_a_case_at_phone_width(app, staff, page, live_server):
    from tests.console.conftest import PASSWORDS

    r = report("观音桥步行街路口有人摆摊卖水果", category_code="E0504")
    transition(r.id, "register", actor("dispatcher"))
    transition(r.id, "dispatch", actor("dispatcher"), department_code="JB-S-GYQ")
    case_id = r.id
    db.session.commit()
    log_in(page, live_server, "handler", PASSWORDS["handler"])
    for path in ("/console/", f"/console/cases/{case_id}", "/console/dashboard", "/console/assessment",
                 "/console/map", "/points/staff/pickup"):
        page.goto(live_server + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at phone width"
    page.goto(f"{live_server}/console/cases/{case_id}")
    page.fill("#comment-form textarea[name=note]", "已到现场，正在联系摊主")
    with page.expect_navigation():
        page.click("#comment-form button[type=submit]")
    assert "已到现场，正在联系摊主" in page.inner_text("ol.trail")
    handle = page.locator("form[data-action=handle]")
    handle.locator("textarea[name=note]").fill("已劝离")
    with page.expect_navigation():
        handle.locator("button[type=submit]").click()
    assert page.inner_text("#case-status") == "已处置"
