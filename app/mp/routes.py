"""The mini-program's JSON API (/api/mp/...). Thin: parse, call a use case, answer JSON; errors are JSON too.

Every call but login and the OpenAPI file carries `Authorization: Bearer <token>` from POST /api/mp/login (401
otherwise). Token auth, no cookies: CSRF does not apply.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, g, jsonify, request
from sqlalchemy import select

from app.bot.miniprogram import MiniProgramLoginFailed, code_to_session
from app.citizens.miniprogram import citizen_for_miniprogram
from app.extensions import csrf, db
from app.geo import InvalidCoordinates, UnknownCRS, normalize_crs, parse_coordinates, to_wgs84
from app.media import MediaRejected, path_for
from app.mp import tokens
from app.mp.present import case_json, poi_json
from app.poi.services import nearest_pois
from app.points import queries as points_queries
from app.points.present import entry_json, redemption_json, reward_json
from app.points.rewards import available_rewards
from app.points.services import PointsError, redeem
from app.reports.citizen_view import citizen_view
from app.reports.feedback import (
    MAX_DETAILS_CHARS,
    RATINGS,
    AlreadyAnswered,
    FeedbackClosed,
    VisitNotFound,
    answer_case_visit,
    is_pending,
    latest_visit,
)
from app.reports.intake import PhotoRefused, read_photo_uploads, refusal_status, submit_with_photos
from app.reports.models import Report
from app.reports.services import Submission
from app.reports.workflow import ConcurrentUpdate, ReportError

bp = Blueprint("mp", __name__)
csrf.exempt(bp)

OPENAPI = Path(__file__).with_name("openapi.json")
IDEMPOTENCY_KEY_RE = re.compile(r"[A-Za-z0-9_.:\-]{8,100}")


def _error(status: int, code: str, message: str, **extra):
    return jsonify(error=code, message=message, **extra), status


@bp.errorhandler(PointsError)
def points_error(exc: PointsError):
    """Points refusals keep their own codes and statuses (insufficient points 409, out of stock 409, …)."""
    return _error(exc.status, exc.code, exc.message)


@bp.errorhandler(ReportError)
def report_error(exc: ReportError):
    """A case refused: 422 outside the service area, 413 too many or too large photos, else 400 with the reason."""
    if isinstance(exc, PhotoRefused):
        return _error(refusal_status(exc), exc.code, exc.message, reason=exc.reason)
    if isinstance(exc, VisitNotFound):
        return _error(404, "no_return_visit", "这个案件没有请您评价的回访")
    if isinstance(exc, AlreadyAnswered | ConcurrentUpdate):
        return _error(409, "already_answered", "您已经评价过这次处理结果")
    if isinstance(exc, FeedbackClosed):
        return _error(410, "feedback_closed", "评价时间已过，如问题仍在，请重新上报")
    return _error(refusal_status(exc), exc.code, exc.message)


def mp_auth(view):
    """A valid mini-program session token, else 401 (missing, forged, expired or revoked all look the same)."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        header = request.headers.get("Authorization", "")
        citizen_id = tokens.citizen_of(header[7:].strip() if header.startswith("Bearer ") else None)
        if citizen_id is None:
            response, status = _error(401, "unauthorized", "登录已失效，请重新登录")
            response.headers["WWW-Authenticate"] = "Bearer"
            return response, status
        g.citizen_id = citizen_id
        return view(*args, **kwargs)

    return wrapper


def _idempotency_key() -> str:
    key = request.headers.get("Idempotency-Key", "")
    if not IDEMPOTENCY_KEY_RE.fullmatch(key):
        abort(400, description="需要 Idempotency-Key（8–100 位字母、数字或 _ . : -）")
    return key


@bp.get("/api/mp/openapi.json")
def openapi():
    """The API's OpenAPI 3 description."""
    return Response(OPENAPI.read_text(encoding="utf-8"), mimetype="application/json")


@bp.post("/api/mp/login")
def login():
    """{"code"} from wx.login() → code2Session → our own session token {"token", "expires_in"}."""
    body = request.get_json(silent=True)
    code = body.get("code") if isinstance(body, dict) else None
    if not isinstance(code, str) or not 1 <= len(code) <= 128:
        return _error(400, "invalid_request", "需要 wx.login() 返回的 code")
    try:
        user = code_to_session(code)
    except MiniProgramLoginFailed as exc:
        current_app.logger.info("mini-program login refused: %s (%s)", exc.code, exc.errcode)
        return _error(exc.status, exc.code, exc.message)
    token, ttl = tokens.issue_token(citizen_for_miniprogram(user.openid, user.unionid))
    return jsonify(token=token, expires_in=ttl)


@bp.post("/api/mp/reports")
@mp_auth
def create_report():
    """multipart: description, lat, lng, crs, category_code, photo×≤9; Idempotency-Key → 201 {"case_number"}."""
    key = _idempotency_key()
    request.max_content_length = current_app.config["REPORT_UPLOAD_MAX_BYTES"]
    form = request.form
    if not form.get("lat") or not form.get("lng"):
        return _error(400, "invalid_report", "缺少位置 lat 和 lng")
    sub = Submission(channel="miniprogram", lat=form["lat"], lng=form["lng"], crs=form.get("crs") or "gcj02",
                     description=form.get("description", ""), category_code=form.get("category_code") or None,
                     citizen_id=g.citizen_id, client_ref=f"mp:{g.citizen_id}:{key}")
    intake = submit_with_photos(sub, read_photo_uploads(request.files.getlist("photo")))
    response = jsonify(case_number=intake.report.case_number)
    response.headers["Idempotent-Replayed"] = "true" if intake.replayed else "false"
    return response, 201


def _own_case(case_number: str) -> Report:
    report = db.session.scalar(select(Report).where(Report.case_number == case_number))
    if report is None or report.citizen_id != g.citizen_id:  # another citizen's case does not exist for you
        abort(404, description="没有这个案件")
    return report


@bp.get("/api/mp/reports")
@mp_auth
def my_reports():
    """The citizen's cases, newest first (their citizen view)."""
    reports = db.session.scalars(
        select(Report).where(Report.citizen_id == g.citizen_id).order_by(Report.submitted_at.desc()).limit(100)
    )
    return jsonify(reports=[case_json(citizen_view(r, "reporter"), with_trail=False) for r in reports])


@bp.get("/api/mp/reports/<case_number>")
@mp_auth
def my_report(case_number: str):
    """One of the citizen's cases with its public trail and photos, and whether a return visit waits for an answer."""
    report = _own_case(case_number)
    out = case_json(citizen_view(report, "reporter"))
    visit = latest_visit(report.id, g.citizen_id)
    out["feedback"] = {"pending": is_pending(visit), "rating": visit.rating if visit else None,
                       "ratings": list(RATINGS)}
    return jsonify(report=out)


@bp.post("/api/mp/reports/<case_number>/feedback")
@mp_auth
def case_feedback(case_number: str):
    """The return visit's answer {"rating", "comment"?} for a case the citizen was asked about (its reporter or a
    follower): 200 once; 409 a second or parallel answer, 410 after the window, 404 when nothing was asked."""
    body = request.get_json(silent=True)
    rating = body.get("rating") if isinstance(body, dict) else None
    comment = body.get("comment") if isinstance(body, dict) else None
    if rating not in RATINGS:
        return _error(400, "invalid_request", "rating 必须是 " + " / ".join(RATINGS))
    if comment is not None and (not isinstance(comment, str) or len(comment) > MAX_DETAILS_CHARS):
        return _error(400, "invalid_request", f"comment 是不超过 {MAX_DETAILS_CHARS} 字的文字")
    answer = answer_case_visit(case_number, g.citizen_id, rating, comment=comment)
    return jsonify(feedback={"case_number": answer.case_number, "rating": answer.rating,
                             "reopened": answer.moved_to_unresolved})


@bp.get("/api/mp/reports/<case_number>/photos/<int:photo_id>")
@mp_auth
def case_photo(case_number: str, photo_id: int):
    """A photo of one's own case that its citizen view shows (?variant=thumb for the small one)."""
    case = citizen_view(_own_case(case_number), "reporter")
    photo = next((p for p in case.photos if p.id == photo_id), None)
    try:
        path = path_for(photo.sha256 if photo else "", request.args.get("variant", "original"))
    except MediaRejected:
        abort(404, description="没有这张照片")
    if not path.exists():
        abort(404, description="没有这张照片")
    return Response(path.read_bytes(), mimetype="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


@bp.get("/api/mp/points")
@mp_auth
def points():
    """Balance and recent ledger entries (the same ledger as the account's points pages)."""
    entries = points_queries.recent_entries(g.citizen_id, limit=50)
    return jsonify(balance=points_queries.balance_of(g.citizen_id), entries=[entry_json(e) for e in entries])


@bp.get("/api/mp/rewards")
@mp_auth
def rewards():
    """Rewards that can be redeemed now."""
    return jsonify(rewards=[reward_json(r) for r in available_rewards()])


@bp.post("/api/mp/redemptions")
@mp_auth
def create_redemption():
    """Redeem {"reward_id"} with an Idempotency-Key; a replay answers the same redemption."""
    key = _idempotency_key()
    body = request.get_json(silent=True)
    reward_id = body.get("reward_id") if isinstance(body, dict) else None
    if not isinstance(reward_id, int) or isinstance(reward_id, bool) or not 0 < reward_id < 2**31:
        return _error(400, "invalid_request", "reward_id 必须是正整数")
    result = redeem(g.citizen_id, reward_id, key)
    response = jsonify(redemption=redemption_json(result.redemption))
    response.headers["Idempotent-Replayed"] = "true" if result.replayed else "false"
    return response, 201


@bp.get("/api/mp/nearby")
@mp_auth
def nearby():
    """The nearest convenience points to lat/lng (crs gcj02 by default, as wx.getLocation gives), in that crs;
    422 outside the service area (there is nothing near to show)."""
    args = request.args
    try:
        crs = normalize_crs(args.get("crs") or "gcj02")
        lat, lng = parse_coordinates(args.get("lat"), args.get("lng"))
    except (InvalidCoordinates, UnknownCRS) as exc:
        return _error(400, "invalid_request", str(exc))
    wlat, wlng = to_wgs84(lat, lng, crs)
    if not current_app.extensions["service_area"].contains(wlat, wlng):
        return _error(422, "outside_service_area", "这个位置不在本平台的服务范围内")
    return jsonify(crs=crs, results=[poi_json(p, crs) for p in nearest_pois(wlat, wlng, k=10)])


def openapi_document() -> dict:
    """The OpenAPI file as a dict (for tests and tools)."""
    return json.loads(OPENAPI.read_text(encoding="utf-8"))
