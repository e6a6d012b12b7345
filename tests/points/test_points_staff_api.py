"""Staff JSON API for admins: adjustments with a reason, the rewards catalogue; other roles are refused."""

from __future__ import annotations

import pytest

from app.citizens.auth import create_api_token
from app.extensions import db
from app.points.models import Reward
from app.points.queries import balance_of, reconcile
from tests import factories
from tests.points.conftest import books


@pytest.fixture
def admin(app):
    return {"Authorization": f"Bearer {create_api_token('admin-script', role='admin')}"}


def test_an_admin_grants_points_by_openid_once_per_key(app, client, admin):
    citizen_id = factories.citizen("oStaffApi1").id
    headers = admin | {"Idempotency-Key": "campaign-2026-11-a"}
    body = {"openid": "oStaffApi1", "amount": 15, "reason": "志愿者活动"}
    first = client.post("/api/staff/points/grants", json=body, headers=headers)
    again = client.post("/api/staff/points/grants", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.get_json()["entry"] == again.get_json()["entry"]
    assert first.get_json()["entry"]["note"] == "志愿者活动"
    assert balance_of(citizen_id) == 15
    changed = client.post("/api/staff/points/grants", json=body | {"amount": 20}, headers=headers)
    assert changed.status_code == 422 and changed.get_json()["error"] == "idempotency_conflict"
    assert balance_of(citizen_id) == 15  # the first grant stands, the changed one was not applied


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"openid": "oNobody", "amount": 5, "reason": "x"}, 404, "unknown_citizen"),
        ({"citizen_id": 99999, "amount": 5, "reason": "x"}, 404, "unknown_citizen"),
        ({"citizen_id": "1", "amount": 5, "reason": "x"}, 400, "invalid_request"),
        ({"openid": "oStaffApi2", "amount": "5", "reason": "x"}, 400, "invalid_request"),
        ({"openid": "oStaffApi2", "amount": 5}, 400, "invalid_request"),
        ({"openid": "oStaffApi2", "amount": -5, "reason": "扣除"}, 409, "insufficient_points"),
        ([1, 2], 400, "invalid_request"),
    ],
)
def test_bad_grants_get_clear_refusals(app, client, admin, body, status, error):
    factories.citizen("oStaffApi2")
    response = client.post("/api/staff/points/grants", json=body, headers=admin)
    assert (response.status_code, response.get_json()["error"]) == (status, error)
    assert response.get_json()["message"]


def test_only_admins_may_grant_or_edit_the_catalogue(app, client):
    dispatcher = {"Authorization": f"Bearer {create_api_token('desk', role='dispatcher')}"}
    for path, body in (
        ("/api/staff/points/grants", {"openid": "x", "amount": 1, "reason": "x"}),
        ("/api/staff/rewards", {"name": "x", "cost": 1, "stock": 1}),
    ):
        before = books()
        response = client.post(path, json=body, headers=dispatcher)
        assert response.status_code == 403
        assert client.post(path, json=body).status_code == 401
        assert books() == before  # no grant, no reward


def test_an_admin_creates_restocks_and_shelves_a_reward(app, client, admin):
    created = client.post(
        "/api/staff/rewards",
        json={
            "name": "公交一日票",
            "cost": 50,
            "stock": 10,
            "per_citizen_limit": 1,
            "valid_until": "2099-12-31T23:59:00+08:00",
        },
        headers=admin,
    )
    assert created.status_code == 201
    reward = created.get_json()["reward"]
    assert (reward["name"], reward["stock"], reward["per_citizen_limit"]) == ("公交一日票", 10, 1)
    assert reward["valid_until"] == "2099-12-31T15:59:00Z"
    restocked = client.post(f"/api/staff/rewards/{reward['id']}/restock", json={"delta": 5}, headers=admin)
    assert restocked.get_json()["reward"]["stock"] == 15
    too_many = client.post(f"/api/staff/rewards/{reward['id']}/restock", json={"delta": -16}, headers=admin)
    assert too_many.status_code == 409 and too_many.get_json()["error"] == "out_of_stock"
    assert db.session.get(Reward, reward["id"], populate_existing=True).stock == 15
    off = client.post(f"/api/staff/rewards/{reward['id']}/active", json={"active": False}, headers=admin)
    assert off.get_json()["reward"]["active"] is False
    assert db.session.get(Reward, reward["id"], populate_existing=True).total_stock == 15
    assert reconcile().ok


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/api/staff/rewards", {"name": "", "cost": 1, "stock": 1}, 400, "名称不能为空"),
        ("/api/staff/rewards", {"name": "x", "cost": 0, "stock": 1}, 400, "必须大于 0"),
        ("/api/staff/rewards", {"name": "x", "cost": 1, "stock": 1, "valid_from": "tomorrow"}, 400, "ISO 8601"),
        ("/api/staff/rewards", {"name": "x", "cost": 1, "stock": 1, "valid_from": "2026-01-01T00:00"}, 400, "时区"),
        ("/api/staff/rewards/999/restock", {"delta": 1}, 404, "没有这个奖品"),
        ("/api/staff/rewards/999/active", {"active": "yes"}, 400, "true 或 false"),
        ("/api/staff/rewards/999/active", {"active": True}, 404, "没有这个奖品"),
    ],
)
def test_bad_catalogue_requests_get_clear_refusals(app, client, admin, path, body, status, message):
    response = client.post(path, json=body, headers=admin)
    assert response.status_code == status
    assert message in response.get_json()["message"]
