"""The public map and list on a phone, and a moderator's day, in a real browser (Chromium through Playwright)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.moderation.models import CitizenSanction
from app.reports.models import ReportPhoto
from app.reports.services import transition
from tests.conftest import ARTIFACTS
from tests.factories import actor, jpeg_bytes, report

pytestmark = pytest.mark.browser
pytest_plugins = ["tests.console.conftest"]
ADMIN = actor("admin")


@pytest.mark.phone
def test_the_public_list_and_map_on_a_phone_show_moderated_cases_only(app, page, live_server):
    shown = report("人行道上停满了车，车牌渝A12345", category_code="E0505")
    transition(shown.id, "register", ADMIN)
    held = report("这个狗官不管事，垃圾堆了三天")
    transition(held.id, "register", ADMIN)
    number = shown.case_number
    db.session.commit()  # from here on only the browser talks to the database
    page.goto(f"{live_server}/cases")
    page.wait_for_selector("#public-map[data-loaded]")
    assert page.get_attribute("#public-map", "data-loaded") == "2"  # both on the map (rounded points, no text)
    items = page.locator("#public-list li[data-case]")
    assert items.count() == 2
    text = page.inner_text("#public-list")
    assert "渝A***45" in text and "渝A12345" not in text and "狗官" not in text
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "public_cases_phone.png"), full_page=True)
    page.click(f"#public-list li[data-case={number}] a")
    page.wait_for_selector("#public-description")
    assert "渝A***45" in page.inner_text("#public-description")


def test_a_moderators_day_approve_hide_a_photo_mute_and_unmute(app, staff, page, live_server, tmp_path):
    from app.media import store_image
    from tests.console.conftest import PASSWORDS

    r = report("门口狗官不管，摆摊占道")
    transition(r.id, "register", ADMIN)
    stored = store_image(jpeg_bytes())
    db.session.add(ReportPhoto(report_id=r.id, kind="report", status="stored", sha256=stored.sha256,
                               width=stored.width, height=stored.height))
    number, case_id = r.case_number, r.id
    db.session.commit()  # from here on only the browser talks to the database

    page.goto(f"{live_server}/console/login")
    page.fill("#username", "moderator")
    page.fill("#password", PASSWORDS["moderator"])
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/console/")
    page.click("text=内容审核")
    item = page.locator(f"section[data-case={number}]")
    assert "辱骂：狗官" in item.inner_text()
    with page.expect_navigation():
        item.locator("text=隐藏照片").click()
    item = page.locator(f"section[data-case={number}]")
    assert item.locator("text=恢复照片").count() == 1
    item.locator("input[name=reason]").fill("辱骂工作人员")
    with page.expect_navigation():
        item.locator("text=暂停其举报").click()
    assert "已对举报人暂停举报" in page.inner_text("body")
    item = page.locator(f"section[data-case={number}]")
    with page.expect_navigation():
        item.locator("text=解除").click()
    item = page.locator(f"section[data-case={number}]")
    item.locator("textarea[name=text]").fill("门口摆摊占道")
    with page.expect_navigation():
        item.locator("text=修改并公开").click()
    assert page.locator(f"section[data-case={number}]").count() == 0  # off the queue
    page.screenshot(path=str(ARTIFACTS / "moderation_done.png"), full_page=True)

    page.goto(f"{live_server}/cases/{number}")
    assert page.inner_text("#public-description").startswith("门口摆摊占道")
    assert "狗官" not in page.inner_text("body")
    db.session.expire_all()
    [row] = db.session.scalars(select(CitizenSanction)).all()
    assert row.kind == "mute" and row.lifted_at is not None
    assert db.session.scalar(select(ReportPhoto.hidden).where(ReportPhoto.report_id == case_id)) is True
