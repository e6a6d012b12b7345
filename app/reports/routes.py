"""Web entry points of the case domain: the console, its admin pages, the staff JSON API, Open311 GeoReport v2,
and the public case trail that the bot links citizens to. Each part is a nested blueprint of `bp`.
"""

from __future__ import annotations

from flask import Blueprint, abort, render_template

from app.reports import admin, console, open311, staff_api
from app.reports.citizen_view import citizen_view
from app.reports.services import ReportNotFound, get_report

bp = Blueprint("reports", __name__)
bp.register_blueprint(console.bp)
bp.register_blueprint(admin.bp)
bp.register_blueprint(staff_api.bp)
bp.register_blueprint(open311.bp)

@bp.get("/cases/<case_number>")
def public_case(case_number: str):
    """The public trail of a case: state and public steps in Chinese, no personal data, no staff names."""
    try:
        report = get_report(case_number=case_number)
    except ReportNotFound:
        abort(404)
    return render_template("console/public_case.html", v=citizen_view(report, audience="public"))
