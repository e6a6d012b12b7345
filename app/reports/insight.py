"""Web entry points of the assessment, the exports and the case map (thin: parse, call, render).

`api_bp` (/api/staff, token or console session): the assessment as JSON and XLSX, the case list as XLSX and CSV.
`console_bp` (/console): the assessment page, the map page and the map's JSON, the case page's comment form.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from sqlalchemy import select

from app.citizens.auth import api_staff_required, staff_required
from app.extensions import csrf, db
from app.reports import assessment, exports, queries
from app.reports.map_data import grid_outlines, map_points
from app.reports.models import GridCell
from app.reports.periods import period_from_args
from app.reports.services import ReportNotFound, add_comment, get_report
from app.reports.workflow import ReportError

api_bp = Blueprint("insight_api", __name__, url_prefix="/api/staff")
csrf.exempt(api_bp)
console_bp = Blueprint("insight", __name__, url_prefix="/console")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _bad(exc: Exception):
    return jsonify(error="bad_filter", message=str(exc)), 400


def _download(chunks, mimetype: str, filename: str) -> Response:
    """A streamed attachment (the generator keeps the request's app context and database session)."""
    response = Response(stream_with_context(chunks), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _answer():
    return assessment.assess(period_from_args(request.args), (request.args.get("by") or "department"), g.actor)


@api_bp.get("/assessment")
@api_staff_required()
def assessment_json():
    """综合评价 for a period (period=YYYY-MM or date_from/date_to) grouped by department, street, grid, …"""
    try:
        return jsonify(_answer())
    except queries.BadFilter as exc:
        return _bad(exc)


@api_bp.get("/assessment.xlsx")
@api_staff_required()
def assessment_xlsx():
    """The same assessment as an XLSX download."""
    try:
        answer = _answer()
    except queries.BadFilter as exc:
        return _bad(exc)
    p = answer["period"]
    name = f"assessment-{answer['by']}-{p['date_from']}-{p['date_to']}.xlsx"
    return _download(exports.assessment_xlsx(answer), XLSX, name)


def _case_filter():
    f = queries.CaseFilter.from_args(request.args)
    queries.list_query(f, g.actor)  # unknown grid or department codes raise BadFilter before the stream starts
    return f


@api_bp.get("/cases.xlsx")
@api_staff_required()
def cases_xlsx():
    """The filtered case list (the list's parameters, no paging) as XLSX."""
    try:
        f = _case_filter()
    except queries.BadFilter as exc:
        return _bad(exc)
    return _download(exports.cases_xlsx(f, g.actor), XLSX, "cases.xlsx")


@api_bp.get("/cases.csv")
@api_staff_required()
def cases_csv():
    """The filtered case list as CSV (UTF-8 with BOM)."""
    try:
        f = _case_filter()
    except queries.BadFilter as exc:
        return _bad(exc)
    return _download(exports.cases_csv(f, g.actor), "text/csv; charset=utf-8", "cases.csv")


@console_bp.route("/assessment")
@staff_required()
def assessment_page():
    """The assessment as a table, with the period picker, the grouping, the formula and the download links."""
    try:
        answer, error = _answer(), None
    except queries.BadFilter as exc:
        answer, error = assessment.assess(period_from_args({}), "department", g.actor), str(exc)
    return render_template("console/assessment.html", a=answer, error=error), 400 if error else 200


@console_bp.route("/map")
@staff_required()
def map_page():
    """Cases on a map (the list's filters), clustered, over grid outlines; tiles from MAP_TILE_URL when set."""
    try:
        f = queries.CaseFilter.from_args(request.args)
    except queries.BadFilter:
        f = queries.CaseFilter()
    streets = list(db.session.scalars(select(GridCell).where(GridCell.level <= 2).order_by(GridCell.code)))
    return render_template("console/map.html", f=f, grids=streets, tiles=_tiles())


def _tiles() -> dict:
    return {
        "url": current_app.config.get("MAP_TILE_URL") or "",
        "attribution": current_app.config.get("MAP_TILE_ATTRIBUTION") or "",
        "crs": current_app.config.get("MAP_TILE_CRS", "wgs84"),
    }


@console_bp.route("/map/points.json")
@staff_required()
def map_points_json():
    """The cases of a filter as points (capped; `truncated` says so)."""
    try:
        f = queries.CaseFilter.from_args(request.args)
        return jsonify(map_points(f, g.actor))
    except queries.BadFilter as exc:
        return _bad(exc)


@console_bp.route("/map/grids.json")
@staff_required()
def map_grids_json():
    """Grid outlines (GeoJSON FeatureCollection) for the map."""
    return jsonify(grid_outlines())


@console_bp.route("/cases/<int:report_id>/comments", methods=["POST"])
@staff_required()
def case_comment(report_id: int):
    """A staff comment on the case's trail (internal unless the writer makes it public); another department's case
    is a 404 as everywhere."""
    try:
        report = get_report(report_id)
    except ReportNotFound:
        abort(404)
    if not queries.can_see(report, g.actor):
        abort(404)
    version = request.form.get("expected_version", "")
    try:
        add_comment(report.id, g.actor, request.form.get("note", ""),
                    expected_version=int(version) if version.isdigit() else None,
                    visibility=request.form.get("visibility") or None)
    except ReportError as exc:
        db.session.rollback()
        flash(f"备注未保存：{exc.message}", "error")
        return redirect(url_for("reports.console.case_detail", report_id=report_id)), 303
    flash("已添加备注", "ok")
    return redirect(url_for("reports.console.case_detail", report_id=report_id))
