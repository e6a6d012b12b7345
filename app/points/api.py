"""JSON API: /api/points/... for the signed-in citizen, /api/staff/redemptions/... for staff (token or console).

CSRF: these views are exempt from the form-token check; instead the citizen's POSTs must be JSON (a cross-site form
cannot send application/json without a CORS preflight, which we never grant) and the session cookie is SameSite=Lax.
"""

from __future__ import annotations

import functools

from flask import Blueprint, g, jsonify, request

from app.citizens.auth import api_staff_required, current_citizen_id
from app.extensions import csrf
from app.points import queries
from app.points.present import entry_json, redemption_json, reward_json
from app.points.rewards import available_rewards
from app.points.services import (
    MAX_INT,
    InvalidRequest,
    PointsError,
    cancel_redemption,
    collect_redemption,
    find_redemption,
    redeem,
)

api_bp = Blueprint("api", __name__)


@api_bp.errorhandler(PointsError)
def points_error(exc: PointsError):
    """A refusal becomes {"error": code, "message": Chinese text} with its HTTP status."""
    return jsonify(error=exc.code, message=exc.message), exc.status


def citizen_api(view):
    """Signed-in citizens only (401 with the login address otherwise); POSTs must be JSON."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        citizen_id = current_citizen_id()
        if citizen_id is None:
            return jsonify(error="unauthorized", message="请先通过微信登录", login_url="/points/login"), 401
        if request.method == "POST" and not request.is_json:
            raise InvalidRequest("请求必须是 JSON（Content-Type: application/json）")
        g.citizen_id = citizen_id
        return view(*args, **kwargs)

    return wrapper


@api_bp.get("/api/points/me")
@citizen_api
def me():
    """Balance and recent entries."""
    entries = queries.recent_entries(g.citizen_id, limit=50)
    return jsonify(balance=queries.balance_of(g.citizen_id), entries=[entry_json(e) for e in entries])


@api_bp.get("/api/points/rewards")
@citizen_api
def rewards():
    """Rewards that can be redeemed now."""
    return jsonify(rewards=[reward_json(r) for r in available_rewards()])


@api_bp.get("/api/points/redemptions")
@citizen_api
def my_redemptions():
    """The citizen's redemptions, newest first."""
    return jsonify(redemptions=[redemption_json(r) for r in queries.redemptions_of(g.citizen_id)])


@api_bp.post("/api/points/redemptions")
@csrf.exempt
@citizen_api
def create_redemption():
    """Redeem {"reward_id"} with an Idempotency-Key header; a replay answers the same, marked Idempotent-Replayed."""
    body = request.get_json(silent=True)
    reward_id = body.get("reward_id") if isinstance(body, dict) else None
    if not isinstance(reward_id, int) or isinstance(reward_id, bool) or not 0 < reward_id <= MAX_INT:
        raise InvalidRequest("reward_id 必须是正整数（不超过 2147483647）")
    result = redeem(g.citizen_id, reward_id, request.headers.get("Idempotency-Key"))
    response = jsonify(redemption=redemption_json(result.redemption))
    response.status_code = 201
    response.headers["Idempotent-Replayed"] = "true" if result.replayed else "false"
    return response


@api_bp.post("/api/points/redemptions/<code>/cancel")
@csrf.exempt
@citizen_api
def cancel(code: str):
    """Cancel one's own redemption before pickup (points and stock come back)."""
    return jsonify(redemption=redemption_json(cancel_redemption(g.citizen_id, code)))


@api_bp.get("/api/staff/redemptions/<code>")
@api_staff_required()
def staff_lookup(code: str):
    """What a code is for, before handing it over."""
    return jsonify(redemption=redemption_json(find_redemption(code)))


@api_bp.post("/api/staff/redemptions/<code>/collect")
@csrf.exempt
@api_staff_required()
def staff_collect(code: str):
    """Hand the reward over (核销); a console session (no bearer token) must send JSON."""
    if not request.headers.get("Authorization") and not request.is_json:
        raise InvalidRequest("请求必须是 JSON（Content-Type: application/json）")
    actor = g.actor
    return jsonify(redemption=redemption_json(collect_redemption(code, f"{actor.kind}:{actor.id}:{actor.name}")))
