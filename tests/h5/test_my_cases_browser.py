"""「我的举报」 in Chromium at phone width inside "WeChat": the return visit answered with a tap."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from sqlalchemy import select

from app.citizens.models import Citizen
from app.extensions import db
from app.reports.models import Report
from tests.factories import report
from tests.h5.conftest import WECHAT_UA
from tests.h5.test_my_cases_visits import close

pytestmark = [pytest.mark.browser, pytest.mark.phone]


def test_a_citizen_taps_not_solved_with_a_sentence_and_the_case_goes_back(browser, live_server, app, fake_wechat):
    app.config["PUBLIC_BASE_URL"] = live_server
    citizen = Citizen(openid="oVisitResident1", subscribed=True)
    db.session.add(citizen)
    db.session.commit()
    case = report(citizen_id=citizen.id)
    number, report_id = case.case_number, case.id
    close(report_id)
    context = browser.new_context(user_agent=WECHAT_UA, viewport={"width": 390, "height": 844}, is_mobile=True,
                                  locale="zh-CN")
    page = context.new_page()

    def authorize(route):  # WeChat's OAuth page: straight back with a code for this citizen (snsapi_base)
        query = parse_qs(urlparse(route.request.url).query)
        back = query["redirect_uri"][0] + "?" + urlencode({"code": fake_wechat.add_oauth_code("oVisitResident1"),
                                                           "state": query["state"][0]})
        route.fulfill(status=302, headers={"Location": back})

    page.route("https://open.weixin.qq.com/**", authorize)
    try:
        # Playwright routes only the first request of a redirect chain: take the sign-in redirect's target (the
        # state rides in the context's cookie) and open WeChat's page directly, as the citizen's browser would.
        login = page.request.get(f"{live_server}/h5/login?next=/me/cases", max_redirects=0,
                                 headers={"User-Agent": WECHAT_UA})
        page.goto(login.headers["location"])
        page.wait_for_url("**/me/cases*")  # WeChat keeps its #wechat_redirect
        card = page.locator(f'section.case[data-case="{number}"]')
        assert "问题解决了吗" in card.inner_text()
        card.locator("textarea[name=comment]").fill("井盖还是松的")
        card.locator("button[value=dissatisfied]").click()
        page.wait_for_url(f"**/me/cases?answered={number}*")
        assert "回访已记录" in page.locator("[role=status]").inner_text()
        assert "问题解决了吗" not in page.content()
        db.session.rollback()
        assert db.session.scalar(select(Report.status).where(Report.id == report_id)) == "unresolved"
    finally:
        context.close()
