"""The H5 report form in Chromium: a real file input, a mocked location, inside and outside "WeChat"."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from PIL import Image
from sqlalchemy import select

from app.citizens.models import Citizen
from app.extensions import db
from app.reports.models import Report
from tests.h5.conftest import WECHAT_UA

pytestmark = [pytest.mark.browser, pytest.mark.phone]

BROWSER_SPOT = (29.5752, 106.5318)  # WGS-84, what navigator.geolocation reports
WECHAT_SPOT = (29.5724, 106.53556)  # GCJ-02, what wx.getLocation({type: "gcj02"}) reports
# A stand-in for res.wx.qq.com's jweixin: wx.config recorded, wx.ready at once, wx.getLocation answering GCJ-02.
JWEIXIN_STUB = """
window.__wx = {config: null, locationType: null};
window.wx = { config: function (c) { __wx.config = c; }, ready: function (f) { setTimeout(f, 0); },
  error: function () {}, getLocation: function (o) { __wx.locationType = o.type;
    o.success({latitude: LAT, longitude: LNG, accuracy: 30}); } };
""".replace("LAT", str(WECHAT_SPOT[0])).replace("LNG", str(WECHAT_SPOT[1]))


def wait_until(page, expression: str, timeout_s: float = 10.0) -> None:
    """Poll `expression` from the test (wait_for_function evaluates a string in the page, which its CSP forbids)."""
    for _ in range(int(timeout_s * 10)):
        if page.evaluate(expression):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"never true: {expression}")


def big_photo(tmp_path) -> str:
    path = tmp_path / "street.jpg"
    Image.new("RGB", (4000, 3000), (120, 90, 60)).save(path, "JPEG", quality=90)
    return str(path)


def fill_and_submit(page, photo: str, text: str = "人行道井盖没了，很危险") -> str:
    page.set_input_files("#photo", photo)
    page.wait_for_selector("#thumbs img")
    page.click("#locate")
    wait_until(page, "document.getElementById('lat').value !== ''")
    page.fill("#description", text)
    page.wait_for_selector("#suggestions button")
    page.locator("#suggestions button").first.click()
    page.click("#submit")
    page.wait_for_url("**/report/done/*")
    return page.locator("#case-number").inner_text()


def the_case(number: str) -> Report:
    db.session.rollback()
    return db.session.scalar(select(Report).where(Report.case_number == number))


def test_outside_wechat_a_resident_reports_with_the_browsers_location_and_a_resized_photo(browser, live_server, app,
                                                                                         tmp_path):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, locale="zh-CN",
                                  geolocation={"latitude": BROWSER_SPOT[0], "longitude": BROWSER_SPOT[1]},
                                  permissions=["geolocation"])
    page = context.new_page()
    try:
        page.goto(f"{live_server}/report")
        assert page.locator("#phone").count() == 1  # anonymous: an optional, private phone number
        page.fill("#phone", "13800138000")
        number = fill_and_submit(page, big_photo(tmp_path))
        assert page.locator("#public-link").get_attribute("href") == f"/cases/{number}"
        report = the_case(number)
        assert report.channel == "h5" and report.raw_crs == "wgs84" and report.citizen_id is None
        assert (report.raw_lat, report.raw_lng) == pytest.approx(BROWSER_SPOT, abs=1e-6)
        assert report.category is not None and report.contact_phone == "13800138000"
        assert max(report.photos[0].width, report.photos[0].height) == 1600  # shrunk in the browser
        db.session.commit()
        page.reload()  # reloading the answer page submits nothing
        db.session.rollback()
        assert len(db.session.scalars(select(Report)).all()) == 1
    finally:
        context.close()


def test_inside_wechat_the_citizen_signs_in_and_reports_with_wx_get_location_in_gcj02(browser, live_server, app,
                                                                                     fake_wechat, demo, tmp_path):
    app.config["PUBLIC_BASE_URL"] = live_server
    context = browser.new_context(user_agent=WECHAT_UA, viewport={"width": 390, "height": 844}, is_mobile=True,
                                  locale="zh-CN")
    page = context.new_page()

    def authorize(route):  # WeChat's OAuth page: straight back with a code for this citizen (snsapi_base)
        query = parse_qs(urlparse(route.request.url).query)
        code = fake_wechat.add_oauth_code("oWeChatResident1")
        back = query["redirect_uri"][0] + "?" + urlencode({"code": code, "state": query["state"][0]})
        route.fulfill(status=302, headers={"Location": back})

    page.route("https://open.weixin.qq.com/**", authorize)
    page.route("https://res.wx.qq.com/**", lambda r: r.fulfill(status=200, content_type="text/javascript",
                                                                  body=JWEIXIN_STUB))
    try:
        page.goto(f"{live_server}/s/DEMO01")
        page.click("a.report-link")
        page.wait_for_url("**/report?sign=DEMO01*")  # WeChat keeps its #wechat_redirect
        assert page.locator("#at-sign").count() == 1 and page.locator("#phone").count() == 0
        wait_until(page, "!!(window.__wx && window.__wx.config !== null)")
        assert "getLocation" in page.evaluate("__wx.config.jsApiList")
        number = fill_and_submit(page, big_photo(tmp_path))
        report = the_case(number)
        citizen = db.session.scalar(select(Citizen).where(Citizen.openid == "oWeChatResident1"))
        assert report.citizen_id == citizen.id and report.raw_crs == "gcj02"  # only wx.getLocation gives gcj02
        assert (report.raw_lat, report.raw_lng) == pytest.approx(WECHAT_SPOT, abs=1e-6)
        db.session.commit()  # end the test's SQLite transaction before the server writes again
        page.goto(f"{live_server}/me/cases")
        assert number in page.locator("section.case").first.inner_text()
    finally:
        context.close()
