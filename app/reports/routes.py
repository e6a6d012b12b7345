"""Web entry points of the case domain: the console, its admin pages, the staff JSON API, Open311 GeoReport v2,
and the public case trail that the bot links citizens to. Each part is a nested blueprint of `bp`.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, render_template

from app.reports import admin, console, hotline, open311, staff_api, tickets_api, tickets_console
from app.reports.services import ReportNotFound, get_report

bp = Blueprint("reports", __name__)
bp.register_blueprint(console.bp)
bp.register_blueprint(admin.bp)
bp.register_blueprint(staff_api.bp)
bp.register_blueprint(open311.bp)
bp.register_blueprint(tickets_api.bp)
bp.register_blueprint(tickets_console.bp)
bp.register_blueprint(hotline.bp)

# Steps a citizen sees on the public trail; comments and internal notes are staff-only.
PUBLIC_ACTIONS = ("submit", "register", "cancel", "mark_duplicate", "dispatch", "handle", "verify", "send_back",
                  "close", "reopen", "invalidate", "overdue")


@bp.get("/cases/<case_number>")
def public_case(case_number: str):
    """The citizen-facing trail of a case: state and steps in Chinese, no personal data, no staff names."""
    try:
        report = get_report(case_number=case_number)
    except ReportNotFound:
        abort(404)
    tz = ZoneInfo(current_app.config.get("TIMEZONE", "Asia/Shanghai"))
    steps = [
        {"action": e.action, "to_status": e.to_status, "at": e.created_at.astimezone(tz)}
        for e in report.trail
        if e.action in PUBLIC_ACTIONS
    ]
    return render_template("console/public_case.html", r=report, steps=steps)
