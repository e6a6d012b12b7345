"""The JSON API: a citizen sees and acts on their own account only; staff collect by token or console session."""

from __future__ import annotations

import pytest

from app.citizens.auth import create_api_token
from app.extensions import db
from app.points.queries import balance_of
from app.points.services import redeem
from tests.points.conftest import books, key, sign_in, sign_in_staff


def post_redeem(client, reward_id, idem=None, **kw):
    headers = {"Idempotency-Key": idem} if idem else {}
    return client.post("/api/points/redemptions", json={"reward_id": reward_id}, headers=headers, **kw)


def test_me_shows_the_balance_and_recent_entries(app, client, funded):
    citizen_id = funded(30)
    sign_in(client, citizen_id)
    body = client.get("/api/points/me").get_json()
    assert body["balance"] == 30
    assert [(e["amount"], e["reason"], e["reason_label"], e["note"]) for e in body["entries"]] == [
        (30, "grant", "工作人员调整", "测试积分")
    ]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/points/me"),
        ("get", "/api/points/rewards"),
        ("get", "/api/points/redemptions"),
        ("post", "/api/points/redemptions"),
        ("post", "/api/points/redemptions/ABCDE23456/cancel"),
    ],
)
def test_every_citizen_endpoint_needs_a_signed_in_citizen(app, client, method, path):
    response = getattr(client, method)(path, json={})
    assert response.status_code == 401
    assert response.get_json() == {"error": "unauthorized", "message": "请先通过微信登录", "login_url": "/points/login"}


def test_rewards_lists_only_what_can_be_redeemed_now(app, client, funded, reward):
    from datetime import UTC, datetime, timedelta

    reward("购物袋", cost=20)
    reward("已下架", active=False)
    reward("已过期", valid_until=datetime.now(UTC) - timedelta(days=1))
    sign_in(client, funded(0))
    names = [r["name"] for r in client.get("/api/points/rewards").get_json()["rewards"]]
    assert names == ["购物袋"]


def test_redeeming_answers_201_and_a_replay_answers_the_same_marked_replayed(app, client, funded, reward):
    citizen_id, reward_id = funded(50), reward(cost=20)
    sign_in(client, citizen_id)
    k = key()
    first = post_redeem(client, reward_id, k)
    again = post_redeem(client, reward_id, k)
    assert first.status_code == again.status_code == 201
    assert first.get_json() == again.get_json()
    assert (first.headers["Idempotent-Replayed"], again.headers["Idempotent-Replayed"]) == ("false", "true")
    r = first.get_json()["redemption"]
    assert (r["status"], r["cost"], r["balance_after"], r["reward_name"]) == ("issued", 20, 30, "环保购物袋")
    assert client.get(r["qr_url"]).mimetype == "image/svg+xml"
    listed = client.get("/api/points/redemptions").get_json()["redemptions"]
    assert [x["code"] for x in listed] == [r["code"]]


@pytest.mark.parametrize(
    ("points", "stock", "body", "headers", "status", "error"),
    [
        (5, 3, {"reward_id": "R"}, {"Idempotency-Key": "k" * 20}, 400, "invalid_request"),
        (5, 3, {}, {"Idempotency-Key": "k" * 20}, 400, "invalid_request"),
        (50, 3, "REWARD", {}, 400, "invalid_request"),
        (50, 3, None, {}, 400, "invalid_request"),  # no Idempotency-Key header
        (5, 3, None, {"Idempotency-Key": "k" * 20}, 409, "insufficient_points"),
        (50, 0, None, {"Idempotency-Key": "k" * 20}, 409, "out_of_stock"),
    ],
)
def test_bad_redemption_requests_get_clear_refusals(
    app, client, funded, reward, points, stock, body, headers, status, error
):
    citizen_id, reward_id = funded(points), reward(cost=10, stock=stock)
    sign_in(client, citizen_id)
    before = books()
    payload = {"reward_id": reward_id} if body is None else body
    response = client.post("/api/points/redemptions", json=payload, headers=headers)
    assert response.status_code == status
    assert response.get_json()["error"] == error
    assert response.get_json()["message"]
    assert books() == before  # no debit, no stock taken, no code issued


def test_an_unknown_reward_is_404(app, client, funded):
    sign_in(client, funded(10))
    before = books()
    response = post_redeem(client, 999, key())
    assert response.status_code == 404 and response.get_json()["error"] == "reward_not_found"
    assert books() == before


def test_a_reused_key_for_another_reward_is_422(app, client, funded, reward):
    sign_in(client, funded(50))
    k = key()
    post_redeem(client, reward("a"), k)
    other = reward("b")
    before = books()
    response = post_redeem(client, other, k)
    assert response.status_code == 422 and response.get_json()["error"] == "idempotency_conflict"
    assert books() == before  # the first answer stands; nothing of reward b was taken


def test_a_form_post_cannot_redeem_or_cancel_cross_site(app, client, funded, reward):
    citizen_id, reward_id = funded(50), reward()
    sign_in(client, citizen_id)
    response = client.post("/api/points/redemptions", data={"reward_id": reward_id}, headers={"Idempotency-Key": key()})
    assert response.status_code == 400 and "JSON" in response.get_json()["message"]
    assert balance_of(citizen_id) == 50


def test_a_citizen_cancels_their_own_code_but_not_anothers(app, client, funded, reward):
    owner, other, reward_id = funded(10), funded(10), reward(cost=10)
    code = redeem(owner, reward_id, key()).redemption.code
    sign_in(client, other)
    before = books()
    refused = client.post(f"/api/points/redemptions/{code}/cancel", json={})
    assert refused.status_code == 403
    assert books() == before  # still issued, no refund to anyone
    assert refused.get_json() == {"error": "not_your_redemption", "message": "这不是你的兑换码"}
    assert client.get(f"/points/redemptions/{code}/qr.svg").status_code == 403
    assert client.get("/api/points/redemptions").get_json()["redemptions"] == []
    sign_in(client, owner)
    done = client.post(f"/api/points/redemptions/{code}/cancel", json={})
    assert done.status_code == 200 and done.get_json()["redemption"]["status"] == "cancelled"
    assert balance_of(owner) == 10
    missing = client.post("/api/points/redemptions/NOSUCHCODE/cancel", json={})
    assert missing.status_code == 404 and missing.get_json()["error"] == "redemption_not_found"


def test_staff_collect_by_bearer_token_once(app, client, funded, reward):
    code = redeem(funded(10), reward(cost=10), key()).redemption.code
    token = create_api_token("pickup-desk", role="dispatcher")
    auth = {"Authorization": f"Bearer {token}"}
    looked = client.get(f"/api/staff/redemptions/{code}", headers=auth)
    assert looked.get_json()["redemption"]["status"] == "issued"
    first = client.post(f"/api/staff/redemptions/{code}/collect", headers=auth)
    assert first.status_code == 200 and first.get_json()["redemption"]["status"] == "collected"
    second = client.post(f"/api/staff/redemptions/{code}/collect", headers=auth)
    assert second.status_code == 409 and second.get_json()["error"] == "already_collected"


def test_staff_collect_needs_staff(app, client, funded, reward):
    citizen_id = funded(10)
    code = redeem(citizen_id, reward(cost=10), key()).redemption.code
    sign_in(client, citizen_id)  # a citizen session is not staff
    before = books()
    response = client.post(f"/api/staff/redemptions/{code}/collect", json={})
    assert response.status_code == 401
    bad = client.post(f"/api/staff/redemptions/{code}/collect", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert books() == before and before[2][0][3] == "issued"  # the code is still issued


def test_staff_collect_from_a_console_session_must_be_json(app, client, funded, reward, staff):
    code = redeem(funded(10), reward(cost=10), key()).redemption.code
    sign_in_staff(client, staff.id)
    before = books()
    assert client.post(f"/api/staff/redemptions/{code}/collect").status_code == 400
    assert books() == before
    response = client.post(f"/api/staff/redemptions/{code}/collect", json={})
    assert response.status_code == 200
    db.session.expire_all()
    assert response.get_json()["redemption"]["status"] == "collected"
