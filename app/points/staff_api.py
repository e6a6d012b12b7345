"""Staff JSON API for the ledger and the catalogue (admins): grants/adjustments, rewards, restocking.

The console package can build its forms on the same services; integrating systems call these with a bearer token.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, g, jsonify, request
from sqlalchemy import select

from app.citizens.auth import api_staff_required
from app.citizens.models import Citizen
from app.extensions import csrf, db
from app.points.present import entry_json, reward_json
from app.points.rewards import create_reward, restock, set_active
from app.points.services import MAX_INT, InvalidRequest, PointsError, UnknownCitizen, grant_points

staff_api_bp = Blueprint("staff_api", __name__)


@staff_api_bp.errorhandler(PointsError)
def points_error(exc: PointsError):
    """A refusal becomes {"error": code, "message": text} with its HTTP status."""
    return jsonify(error=exc.code, message=exc.message), exc.status


def json_body() -> dict:
    """The JSON object of the request; a console session (no bearer token) must send JSON (CSRF defence)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidRequest("请求必须是 JSON 对象（Content-Type: application/json）")
    return body


def int_field(body: dict, name: str, *, required: bool = True) -> int | None:
    """An integer field (not a bool, not a string) that fits the 32-bit columns, or InvalidRequest."""
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidRequest(f"{name} 必须是整数")
    if not -MAX_INT <= value <= MAX_INT:
        raise InvalidRequest(f"{name} 超出范围（绝对值不超过 {MAX_INT}）")
    return value


def time_field(body: dict, name: str) -> datetime | None:
    """An ISO 8601 timestamp with a time zone, or None."""
    raw = body.get(name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(str(raw))
    except ValueError as exc:
        raise InvalidRequest(f"{name} 必须是 ISO 8601 时间") from exc
    if value.tzinfo is None:
        raise InvalidRequest(f"{name} 必须带时区（例如 +08:00）")
    return value


def actor_label() -> str:
    return f"{g.actor.kind}:{g.actor.id}:{g.actor.name}"[:64]


@staff_api_bp.post("/api/staff/points/grants")
@csrf.exempt
@api_staff_required("admin")
def grant():
    """{"openid" or "citizen_id", "amount", "reason"} (+ optional Idempotency-Key): an adjustment with a reason."""
    body = json_body()
    if body.get("openid"):
        citizen_id = db.session.scalar(select(Citizen.id).where(Citizen.openid == str(body["openid"])))
        if citizen_id is None:
            raise UnknownCitizen("没有这个市民")
    else:
        citizen_id = int_field(body, "citizen_id")
    entry = grant_points(
        citizen_id,
        int_field(body, "amount"),
        str(body.get("reason") or ""),
        actor=actor_label(),
        idempotency_key=request.headers.get("Idempotency-Key"),
    )
    return jsonify(entry=entry_json(entry)), 201


@staff_api_bp.post("/api/staff/rewards")
@csrf.exempt
@api_staff_required("admin")
def create():
    """Add a reward: {"name", "cost", "stock", "per_citizen_limit"?, "description"?, "picture_url"?, validity}."""
    body = json_body()
    reward = create_reward(
        str(body.get("name") or ""),
        int_field(body, "cost"),
        int_field(body, "stock"),
        int_field(body, "per_citizen_limit", required=False),
        description=str(body.get("description") or ""),
        picture_url=body.get("picture_url"),
        valid_from=time_field(body, "valid_from"),
        valid_until=time_field(body, "valid_until"),
    )
    return jsonify(reward=reward_json(reward)), 201


@staff_api_bp.post("/api/staff/rewards/<int:reward_id>/restock")
@csrf.exempt
@api_staff_required("admin")
def restock_reward(reward_id: int):
    """{"delta": n}: add units, or take unsold units off the shelf with a negative delta."""
    return jsonify(reward=reward_json(restock(reward_id, int_field(json_body(), "delta"))))


@staff_api_bp.post("/api/staff/rewards/<int:reward_id>/active")
@csrf.exempt
@api_staff_required("admin")
def activate(reward_id: int):
    """{"active": true|false}: put the reward on or off the shelf."""
    active = json_body().get("active")
    if not isinstance(active, bool):
        raise InvalidRequest("active 必须是 true 或 false")
    return jsonify(reward=reward_json(set_active(reward_id, active)))
