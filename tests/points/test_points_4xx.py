"""Out-of-range numbers in the points API are the caller's mistake: a 4xx with a message, never a 500."""

from __future__ import annotations

import uuid

import pytest

from app.citizens.auth import create_api_token
from tests.points.conftest import sign_in


@pytest.mark.parametrize("reward_id", [2**63, 2**31, 10**30])
def test_a_reward_id_beyond_any_row_is_a_400_not_a_500(app, client, funded, reward_id):
    sign_in(client, funded(50))
    response = client.post("/api/points/redemptions", json={"reward_id": reward_id},
                           headers={"Idempotency-Key": uuid.uuid4().hex})
    assert response.status_code == 400 and "reward_id" in response.json["message"]


def _admin():
    return {"Authorization": "Bearer " + create_api_token("ops", role="admin")}


@pytest.mark.parametrize("amount", [10**18, -(10**18), 2**63, 100_001])
def test_an_admin_grant_above_the_cap_is_refused_and_changes_nothing(app, client, funded, amount):
    citizen_id = funded(10)
    headers = _admin()
    response = client.post("/api/staff/points/grants", headers=headers,
                           json={"citizen_id": citizen_id, "amount": amount, "reason": "测试"})
    assert response.status_code == 400 and response.json["error"] == "invalid_request"
    me = client.post("/api/staff/points/grants", headers=headers,
                     json={"citizen_id": citizen_id, "amount": 1, "reason": "测试"})
    assert me.status_code == 201 and me.json["entry"]["balance_after"] == 11


def test_a_grant_at_the_cap_is_accepted(app, client, funded):
    citizen_id = funded(0)
    response = client.post("/api/staff/points/grants", headers=_admin(),
                           json={"citizen_id": citizen_id, "amount": app.config["POINTS_GRANT_MAX"], "reason": "测试"})
    assert response.status_code == 201


def test_the_grant_cli_refuses_an_amount_above_the_cap(app, runner, funded):
    from app.citizens.models import Citizen
    from app.extensions import db

    openid = db.session.get(Citizen, funded(0)).openid
    result = runner.invoke(args=["points", "grant", openid, str(10**18), "--reason", "测试"])
    assert result.exit_code != 0 and "Traceback" not in result.output


@pytest.mark.parametrize("field,value", [("citizen_id", 2**63), ("citizen_id", -(2**40))])
def test_an_out_of_range_citizen_id_in_a_grant_is_a_4xx(app, client, field, value):
    response = client.post("/api/staff/points/grants", headers=_admin(),
                           json={field: value, "amount": 5, "reason": "测试"})
    assert response.status_code in (400, 404)


@pytest.mark.parametrize("body", [{"delta": 2**63}, {"delta": -(2**63)}])
def test_a_restock_delta_beyond_any_column_is_a_400(app, client, reward, body):
    response = client.post(f"/api/staff/rewards/{reward()}/restock", headers=_admin(), json=body)
    assert response.status_code == 400


def test_a_reward_with_a_cost_or_stock_beyond_any_column_is_a_400(app, client):
    headers = _admin()
    for body in ({"name": "袋", "cost": 2**63, "stock": 1}, {"name": "袋", "cost": 1, "stock": 2**63}):
        response = client.post("/api/staff/rewards", headers=headers, json=body)
        assert response.status_code == 400, body
