"""Staff JSON API for integrating systems (the city's 运管服 platform): bearer tokens, same rules as the console.

Described in app/reports/openapi.json (served at /api/staff/openapi.json) and docs/api.md.
"""

from __future__ import annotations

import json
from pathlib import Path

from flask import Blueprint, g, jsonify, request

from app.citizens.auth import api_staff_required
from app.extensions import api_timestamp, csrf, db
from app.reports import queries
from app.reports.feedback import case_feedback
from app.reports.models import Report, ReportEvent
from app.reports.services import ReportNotFound, add_comment, get_report, transition
from app.reports.supervision import CASE_ACTIONS, available_case_actions, parse_deadline, recategorize, supervise
from app.reports.workflow import STEPS, InvalidVisibility, NotAllowed, ReportError, available_actions

bp = Blueprint("staff_api", __name__, url_prefix="/api/staff")
csrf.exempt(bp)

OPENAPI_PATH = Path(__file__).resolve().parent / "openapi.json"


_iso = api_timestamp


def case_summary(r: Report) -> dict:
    """A case as the list returns it (no citizen identity: the API is for case work, not for people)."""
    return {
        "id": r.id,
        "case_number": r.case_number,
        "status": r.status,
        "status_label": r.status_label,
        "version": r.version,
        "channel": r.channel,
        "category": r.category.code if r.category else None,
        "category_name": r.category.name if r.category else None,
        "department": r.department.code if r.department else None,
        "department_name": r.department.name if r.department else None,
        "grid": r.grid.code if r.grid else None,
        "description": r.description,
        "address": r.address,
        "lat": r.lat,
        "lng": r.lng,
        "needs_location": bool(r.needs_location),  # lat and lng are null until the dispatcher places the case
        "overdue": bool(r.overdue),
        "supervised": bool(r.supervised),
        "submitted_at": _iso(r.submitted_at),
        "dispatched_at": _iso(r.dispatched_at),
        "deadline_at": _iso(r.deadline_at),
        "closed_at": _iso(r.closed_at),
        "updated_at": _iso(r.updated_at),
    }


def trail_entry(e: ReportEvent) -> dict:
    """One audit-trail entry."""
    return {
        "seq": e.seq,
        "action": e.action,
        "from_status": e.from_status,
        "to_status": e.to_status,
        "actor_kind": e.actor_kind,
        "actor_name": e.actor_name if e.actor_kind in ("staff", "api", "system") else "",
        "note": e.note,
        "visibility": e.visibility,
        "at": _iso(e.created_at),
    }


def case_detail(r: Report) -> dict:
    """A case with its photos, trail and the actions the caller may take now."""
    out = case_summary(r)
    out["photos"] = [
        {"id": p.id, "kind": p.kind, "status": p.status, "sha256": p.sha256, "width": p.width, "height": p.height}
        for p in r.photos
    ]
    out["trail"] = [trail_entry(e) for e in r.trail]
    feedback = case_feedback(r.id)
    out["feedback"] = feedback and {**feedback, "at": _iso(feedback["at"])}
    out["actions"] = [s.action for s in available_actions(r.status, g.actor, r.department_id)]
    out["actions"] += available_case_actions(r, g.actor)
    return out


def error(code: str, message: str, status: int):
    """The API's error body: {"error": code, "message": text}."""
    return jsonify(error=code, message=message), status


def _visible(report_id: int) -> Report | None:
    try:
        report = get_report(report_id)
    except ReportNotFound:
        return None
    return report if queries.can_see(report, g.actor) else None


def _status_for(exc: ReportError) -> int:
    if isinstance(exc, NotAllowed):
        return 403
    if exc.code in ("conflict", "invalid_transition"):
        return 409
    if exc.code == "not_found":
        return 404
    return 400


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3 description of this API."""
    return jsonify(json.loads(OPENAPI_PATH.read_text(encoding="utf-8")))


@bp.get("/cases")
@api_staff_required()
def list_cases():
    """Cases the caller may see, with the console's filters."""
    try:
        f = queries.CaseFilter.from_args(request.args)
        page = queries.list_cases(f, g.actor)
    except queries.BadFilter as exc:
        return error("bad_filter", str(exc), 400)
    return jsonify(
        items=[case_summary(r) for r in page.items],
        total=page.total,
        total_capped=page.capped,
        page=page.page,
        per_page=page.per_page,
        counts=page.counts,
    )


@bp.get("/cases/<int:report_id>")
@api_staff_required()
def get_case(report_id: int):
    """One case with its trail (404 for another department's case)."""
    report = _visible(report_id)
    if report is None:
        return error("not_found", "没有找到这个案件", 404)
    return jsonify(case_detail(report))


def _body() -> dict:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


def _visibility(body: dict) -> str | None:
    """The note's visibility as sent: absent means the action's default; anything but a string is refused."""
    value = body.get("visibility")
    if value is not None and not isinstance(value, str):
        raise InvalidVisibility("visibility 应为 public（市民可见）或 internal（仅内部）")
    return value


@bp.post("/cases/<int:report_id>/transitions")
@api_staff_required()
def post_transition(report_id: int):
    """Take one step of the loop: 409 illegal step or stale version, 403 role, 404 unknown or not yours."""
    report = _visible(report_id)
    if report is None:
        return error("not_found", "没有找到这个案件", 404)
    body = _body()
    action = body.get("action")
    if not isinstance(action, str) or (action not in STEPS and action not in CASE_ACTIONS):
        return error("bad_request", f"action 应为以下之一：{', '.join([*STEPS, *CASE_ACTIONS])}", 400)
    version = body.get("expected_version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        return error("bad_request", "expected_version 应为整数", 400)
    if action in CASE_ACTIONS:
        return _case_action(report.id, action, body, version)
    duplicate_of = body.get("duplicate_of")
    if duplicate_of is not None and not isinstance(duplicate_of, int):
        return error("bad_request", "duplicate_of 应为案件 id（整数）", 400)
    try:
        report = transition(
            report.id,
            action,
            g.actor,
            note=body.get("note") if isinstance(body.get("note"), str) else None,
            expected_version=version,
            department_code=body.get("department") or None,
            cancel_reason=body.get("cancel_reason") or None,
            duplicate_of=duplicate_of,
            visibility=_visibility(body),
        )
    except ReportError as exc:
        db.session.rollback()
        return error(exc.code, exc.message, _status_for(exc))
    return jsonify(case_detail(report))


def _case_action(report_id: int, action: str, body: dict, version: int | None):
    """recategorize and supervise: corrections and 督办 that do not move the case through the loop."""
    note = body.get("note") if isinstance(body.get("note"), str) else None
    try:
        if action == "recategorize":
            report = recategorize(report_id, g.actor, body.get("category"), note, expected_version=version)
        else:
            deadline = parse_deadline(body.get("deadline"))
            report = supervise(report_id, g.actor, note, deadline, expected_version=version)
    except ReportError as exc:
        db.session.rollback()
        return error(exc.code, exc.message, _status_for(exc))
    return jsonify(case_detail(report))


@bp.post("/cases/<int:report_id>/comments")
@api_staff_required()
def post_comment(report_id: int):
    """Add a comment to the trail (the state does not change)."""
    report = _visible(report_id)
    if report is None:
        return error("not_found", "没有找到这个案件", 404)
    body = _body()
    note = body.get("note")
    if not isinstance(note, str):
        return error("bad_request", "note 应为文字", 400)
    version = body.get("expected_version")
    try:
        entry = add_comment(
            report.id,
            g.actor,
            note,
            expected_version=version if isinstance(version, int) else None,
            visibility=_visibility(body),
        )
    except ReportError as exc:
        db.session.rollback()
        return error(exc.code, exc.message, _status_for(exc))
    return jsonify(trail_entry(entry)), 201
