"""Citizen H5 pages and the staff pickup page, through the test client and in a real browser."""

from __future__ import annotations

import re

import pytest

from app.extensions import db
from app.points.models import Redemption
from app.points.queries import balance_of
from app.points.services import redeem
from tests.conftest import ARTIFACTS
from tests.points.conftest import key, sign_in, sign_in_staff


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


@pytest.mark.parametrize("path", ["/points/", "/points/rewards", "/points/redemptions"])
def test_signed_out_citizens_get_a_link_to_wechat_sign_in(app, client, path):
    response = client.get(path)
    assert response.status_code == 401
    html = response.get_data(as_text=True)
    assert "需要先通过微信登录" in html and f'href="/points/login?next={path}"' in html


def test_the_home_page_shows_balance_and_history(app, client, funded):
    sign_in(client, funded(40))
    html = client.get("/points/").get_data(as_text=True)
    assert '<div class="balance" id="balance">40</div>' in html
    assert "工作人员调整：测试积分" in html and "+40" in html


def test_redeeming_from_the_shop_form_shows_the_code_and_a_double_submit_redeems_once(app, client, funded, reward):
    citizen_id, reward_id = funded(30), reward(cost=10)
    sign_in(client, citizen_id)
    shop = client.get("/points/rewards").get_data(as_text=True)
    assert "环保购物袋" in shop and "10 积分 · 剩余 5 份" in shop
    form = {
        "csrf_token": csrf_of(shop),
        "idempotency_key": re.search(r'name="idempotency_key" value="([^"]+)"', shop).group(1),
    }
    first = client.post(f"/points/rewards/{reward_id}/redeem", data=form, follow_redirects=True)
    client.post(f"/points/rewards/{reward_id}/redeem", data=form)  # the impatient second tap
    html = first.get_data(as_text=True)
    code = db.session.scalar(db.select(Redemption.code))
    assert f"兑换成功！领取码 {code[:5]}-{code[5:]}" in html
    assert f'src="/points/redemptions/{code}/qr.svg"' in html
    assert balance_of(citizen_id) == 20
    svg = client.get(f"/points/redemptions/{code}/qr.svg")
    assert svg.mimetype == "image/svg+xml" and svg.data.startswith(b"<svg") and b"qr-path" in svg.data


def test_the_shop_form_without_a_csrf_token_is_refused(app, client, funded, reward):
    citizen_id, reward_id = funded(30), reward(cost=10)
    sign_in(client, citizen_id)
    response = client.post(f"/points/rewards/{reward_id}/redeem", data={"idempotency_key": key()})
    assert response.status_code == 400
    assert balance_of(citizen_id) == 30


def test_a_refused_redemption_is_explained_on_the_shop_page(app, client, funded, reward):
    citizen_id, reward_id = funded(5), reward(cost=10)
    sign_in(client, citizen_id)
    shop = client.get("/points/rewards").get_data(as_text=True)
    assert "积分不足</button>" in shop
    response = client.post(
        f"/points/rewards/{reward_id}/redeem",
        data={"csrf_token": csrf_of(shop), "idempotency_key": key()},
        follow_redirects=True,
    )
    assert "积分不足：需要 10 分，当前 5 分" in response.get_data(as_text=True)


def test_cancelling_from_my_redemptions_returns_the_points(app, client, funded, reward):
    citizen_id = funded(10)
    code = redeem(citizen_id, reward(cost=10), key()).redemption.code
    sign_in(client, citizen_id)
    page = client.get("/points/redemptions").get_data(as_text=True)
    response = client.post(
        f"/points/redemptions/{code}/cancel", data={"csrf_token": csrf_of(page)}, follow_redirects=True
    )
    assert "已取消兑换，积分已退回" in response.get_data(as_text=True)
    assert balance_of(citizen_id) == 10


def test_staff_look_up_and_collect_a_code_on_the_pickup_page(app, client, funded, reward, staff):
    code = redeem(funded(10), reward(cost=10), key()).redemption.code
    sign_in_staff(client, staff.id)
    page = client.get(f"/points/staff/pickup?code={code[:5].lower()}-{code[5:]}").get_data(as_text=True)
    assert "环保购物袋" in page and "待领取" in page and "确认核销" in page
    done = client.post(
        "/points/staff/pickup", data={"csrf_token": csrf_of(page), "code": code}, follow_redirects=True
    ).get_data(as_text=True)
    assert "核销成功" in done and '<td id="status">已领取</td>' in done
    again = client.post(
        "/points/staff/pickup", data={"csrf_token": csrf_of(page), "code": code}, follow_redirects=True
    ).get_data(as_text=True)
    assert "该兑换码已领取过" in again
    unknown = client.get("/points/staff/pickup?code=ZZZZZ-ZZZZZ").get_data(as_text=True)
    assert "没有这个兑换码" in unknown


def test_a_citizen_session_is_not_enough_for_the_pickup_page(app, client, funded, reward):
    sign_in(client, funded(0))
    # staff_required sends non-staff to the console login.
    response = client.get("/points/staff/pickup")
    assert response.status_code == 302 and "/console" in response.headers["Location"]


def scan_qr(png: bytes) -> str:
    """What a phone would read from the QR image (OpenCV's detector)."""
    import cv2
    import numpy as np

    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    text, _, _ = cv2.QRCodeDetector().detectAndDecode(image)
    return text


def session_cookie(app, data: dict) -> dict:
    """A signed Flask session cookie, as the WeChat OAuth callback or the console login would set it."""
    value = app.session_interface.get_signing_serializer(app).dumps(data)
    return {"name": app.config["SESSION_COOKIE_NAME"], "value": value, "domain": "127.0.0.1", "path": "/"}


@pytest.mark.browser
@pytest.mark.phone
def test_a_citizen_redeems_in_the_shop_sees_the_code_and_staff_collect_it(
    app, live_server, page, browser, funded, reward, staff
):
    citizen_id = funded(30)
    reward(cost=20, stock=2)
    staff_id = staff.id
    db.session.commit()  # SQLite: release the write lock before the server handles requests
    page.context.add_cookies([session_cookie(app, {"citizen_id": citizen_id})])
    page.goto(f"{live_server}/points/rewards")
    assert page.locator("#balance").inner_text() == "30"
    page.get_by_role("button", name="兑换").click()
    page.wait_for_url(re.compile(r"/points/redemptions"))
    code_text = page.locator(".code").first.inner_text()
    assert re.fullmatch(r"[2-9A-Z]{5}-[2-9A-Z]{5}", code_text)
    assert page.locator("img.qr").evaluate("img => img.complete && img.naturalWidth > 0")
    scanned = scan_qr(page.locator("img.qr").screenshot())
    assert scanned == f"{app.config['PUBLIC_BASE_URL']}/points/staff/pickup?code={code_text.replace('-', '')}"
    assert "兑换成功" in page.locator(".flash.ok").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "points_pickup_code_issued.png"), full_page=True)

    desk = browser.new_context(locale="zh-CN")
    try:
        from app.citizens.auth import STAFF_SESSION_KEY
        from app.citizens.sessions import start_session

        desk.add_cookies([session_cookie(app, {STAFF_SESSION_KEY: start_session(staff_id)})])
        staff_page = desk.new_page()
        staff_page.goto(f"{live_server}/points/staff/pickup")
        staff_page.fill("#code", code_text.lower())
        staff_page.get_by_role("button", name="查询").click()
        assert "环保购物袋" in staff_page.locator("#redemption").inner_text()
        staff_page.get_by_role("button", name="确认核销，交付奖品").click()
        assert "核销成功" in staff_page.locator(".flash.ok").inner_text()
        assert staff_page.locator("#status").inner_text() == "已领取"
    finally:
        desk.close()

    page.reload()
    assert "已领取" in page.locator("[data-code]").first.inner_text()
    db.session.expire_all()
    assert db.session.scalar(db.select(Redemption.status)) == "collected"


def test_an_admin_keeps_the_rewards_catalogue_on_its_page(app, client):
    from sqlalchemy import select

    from app.citizens.services import create_staff_user
    from app.extensions import db
    from app.points.models import Reward

    admin, _ = create_staff_user("catalogue-admin", "admin", "admin-pass-1")
    sign_in_staff(client, admin.id)
    page = client.get("/points/staff/rewards").get_data(as_text=True)
    token = csrf_of(page)
    client.post("/points/staff/rewards", data={"csrf_token": token, "action": "create", "name": "公交卡充值 20 元",
                                               "cost": "200", "stock": "30", "per_citizen": "1"})
    reward = db.session.scalar(select(Reward).where(Reward.name == "公交卡充值 20 元"))
    assert (reward.cost, reward.stock, reward.total_stock, reward.per_citizen_limit) == (200, 30, 30, 1)
    client.post("/points/staff/rewards", data={"csrf_token": token, "action": "restock", "reward_id": reward.id,
                                               "delta": "-5"})
    client.post("/points/staff/rewards", data={"csrf_token": token, "action": "deactivate", "reward_id": reward.id})
    refused = client.post("/points/staff/rewards", data={"csrf_token": token, "action": "restock",
                                                         "reward_id": reward.id, "delta": "-999"},
                          follow_redirects=True).get_data(as_text=True)
    assert "库存不足" in refused
    bad = client.post("/points/staff/rewards", data={"csrf_token": token, "action": "create", "name": "x",
                                                     "cost": "0", "stock": "1"}, follow_redirects=True)
    assert "所需积分必须大于 0" in bad.get_data(as_text=True)
    db.session.expire_all()
    reward = db.session.get(Reward, reward.id)
    assert (reward.stock, reward.total_stock, reward.active) == (25, 25, False)
    assert client.post("/points/staff/rewards", data={"action": "activate", "reward_id": reward.id}).status_code == 400
    db.session.expire_all()
    assert db.session.get(Reward, reward.id).active is False  # no token, no change


def test_only_admins_may_open_the_rewards_catalogue(app, client, staff):
    sign_in_staff(client, staff.id)  # a dispatcher
    assert client.get("/points/staff/rewards").status_code == 403
