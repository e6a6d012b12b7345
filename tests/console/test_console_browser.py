"""The closed loop in a real browser: dispatcher → handler (with a photo) → inspector → closed → citizen's trail."""

import pytest

from app.extensions import db
from tests.conftest import ARTIFACTS
from tests.factories import jpeg_bytes, report

pytestmark = pytest.mark.browser


def log_in(page, base, username, password):
    page.goto(f"{base}/console/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/console/")


def log_out(page):
    page.click("text=退出")
    page.wait_for_selector("#username")


def act(page, action):
    """Submit the form of one action on the case page and wait for the page after it."""
    form = page.locator(f"form[data-action={action}]")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()


def test_a_case_goes_round_the_loop_in_the_browser_and_the_citizen_sees_every_step(
    app, staff, page, tmp_path, live_server
):
    from tests.console.conftest import PASSWORDS

    r = report("观音桥步行街路口有人摆摊卖水果", category_code="E0504")
    case_id, number = r.id, r.case_number
    db.session.commit()  # from here on only the browser talks to the database
    photo = tmp_path / "after.jpg"
    photo.write_bytes(jpeg_bytes(color=(30, 160, 60)))
    ARTIFACTS.mkdir(exist_ok=True)
    case_url = f"{live_server}/console/cases/{case_id}"

    log_in(page, live_server, "dispatcher", PASSWORDS["dispatcher"])
    assert page.locator(f"tr[data-case={number}]").count() == 1
    page.click(f"text={number}")
    act(page, "register")
    assert page.inner_text("#case-status") == "已立案"
    page.locator("form[data-action=dispatch] select[name=department]").select_option("JB-S-GYQ")
    act(page, "dispatch")
    assert page.inner_text("#case-status") == "已派遣"
    page.screenshot(path=str(ARTIFACTS / "console_1_dispatched.png"), full_page=True)
    log_out(page)

    log_in(page, live_server, "handler", PASSWORDS["handler"])
    page.goto(case_url)
    handle = page.locator("form[data-action=handle]")
    handle.locator("textarea[name=note]").fill("已劝离摊贩，路面已清理")
    handle.locator("input[name=photos]").set_input_files(str(photo))
    act(page, "handle")
    assert page.inner_text("#case-status") == "已处置"
    thumb = page.locator("img[alt=处置照片]")
    assert thumb.count() == 1 and thumb.evaluate("img => img.naturalWidth") > 0
    page.screenshot(path=str(ARTIFACTS / "console_2_handled.png"), full_page=True)
    log_out(page)

    log_in(page, live_server, "inspector", PASSWORDS["inspector"])
    page.goto(case_url)
    act(page, "verify")
    assert page.inner_text("#case-status") == "已核查"
    act(page, "close")
    assert page.inner_text("#case-status") == "已结案"
    actions = page.locator("form[data-action]").evaluate_all("els => els.map(e => e.dataset.action)")
    assert actions == ["invalidate"]  # all an inspector may still do to a closed case
    page.screenshot(path=str(ARTIFACTS / "console_3_closed.png"), full_page=True)
    log_out(page)

    page.goto(f"{live_server}/cases/{number}")
    assert page.inner_text("#public-status") == "已结案"
    steps = page.locator("#public-trail li").evaluate_all("els => els.map(e => e.dataset.action)")
    assert steps == ["submit", "register", "dispatch", "handle", "verify", "close"]
    text = page.inner_text("body")
    assert "dispatcher" not in text and "handler" not in text and "oTestCitizen" not in text


def test_the_case_list_dashboard_and_case_page_fit_a_tablet_screen(app, staff, browser, live_server):
    from tests.console.conftest import PASSWORDS

    r = report("北城天街后门墙上贴满了小广告", category_code="E0201")
    case_id = r.id
    db.session.commit()
    context = browser.new_context(viewport={"width": 820, "height": 1180}, locale="zh-CN", is_mobile=True,
                                  has_touch=True)
    page = context.new_page()
    try:
        log_in(page, live_server, "dispatcher", PASSWORDS["dispatcher"])
        ARTIFACTS.mkdir(exist_ok=True)
        for name, path in (("list", "/console/"), ("dashboard", "/console/dashboard"),
                           ("case", f"/console/cases/{case_id}")):
            page.goto(live_server + path)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            page.screenshot(path=str(ARTIFACTS / f"console_tablet_{name}.png"), full_page=True)
            assert overflow <= 0, f"{path} scrolls sideways by {overflow}px on a tablet"
        assert page.locator("form[data-action=register]").is_visible()
    finally:
        context.close()
