"""In Chromium with WeChat's user agent, the sign page calls wx.config with values we compute independently."""

from __future__ import annotations

import pytest

from tests.h5.conftest import WECHAT_UA
from tests.h5.test_jssdk import independent_signature

pytestmark = [pytest.mark.browser, pytest.mark.phone]

# A stand-in for res.wx.qq.com's jweixin: records wx.config's argument and runs wx.ready callbacks at once.
JWEIXIN_STUB = """
window.__wxConfig = null; window.__opened = null;
window.wx = { config: function (c) { window.__wxConfig = c; },
              ready: function (f) { f(); }, error: function () {},
              openLocation: function (o) { window.__opened = o; } };
"""


def test_the_sign_page_in_wechat_configures_the_jssdk_with_a_correct_signature(browser, live_server, demo, app,
                                                                              fake_wechat):
    app.config["PUBLIC_BASE_URL"] = live_server
    context = browser.new_context(user_agent=WECHAT_UA, viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    page.route("https://res.wx.qq.com/**", lambda r: r.fulfill(status=200, content_type="text/javascript",
                                                                  body=JWEIXIN_STUB))
    try:
        page.goto(f"{live_server}/s/DEMO01?from=singlemessage#top")
        for _ in range(100):  # polled from here: wait_for_function evaluates a string, which the page's CSP forbids
            if page.evaluate("window.__wxConfig !== null && window.__wxConfig !== undefined"):
                break
            page.wait_for_timeout(100)
        c = page.evaluate("window.__wxConfig")
        assert c["appId"] == app.config["WECHAT_APP_ID"] and "openLocation" in c["jsApiList"]
        url = f"{live_server}/s/DEMO01?from=singlemessage"
        assert c["signature"] == independent_signature(fake_wechat.tickets[0], c["nonceStr"], c["timestamp"], url)
        page.locator("li.poi .nav a", has_text="微信内导航").first.click()
        opened = page.evaluate("window.__opened")
        assert opened["latitude"] and opened["longitude"] and opened["name"]
    finally:
        context.close()
