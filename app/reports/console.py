"""The staff console: case list, case detail with its actions, bulk dispatch, staff-only photos, dashboard."""

from __future__ import annotations

import math
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, current_app, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from app import geo
from app.citizens.auth import staff_required
from app.extensions import db
from app.media import MediaRejected, path_for, store_image
from app.reports import queries
from app.reports.models import (
    CHANNELS,
    STATUS_LABELS,
    STATUSES,
    Category,
    Department,
    DuplicateCandidate,
    GridCell,
    Report,
)
from app.reports.models import ReportPhoto as Photo
from app.reports.services import PhotoInput, ReportNotFound, get_report, transition
from app.reports.workflow import (
    CANCEL_REASONS,
    STEPS,
    ConcurrentUpdate,
    NotAllowed,
    ReportError,
    available_actions,
    note_visibility,
)

bp = Blueprint("console", __name__, url_prefix="/console")

ACTION_LABELS = {s.action: s.label for s in STEPS.values()} | {
    "submit": "上报",
    "overdue": "超期督办",
    "comment": "备注",
}
MAX_UPLOADS = 6


@bp.app_template_filter("localtime")
def localtime(value) -> str:
    """A UTC timestamp shown in the city's time zone."""
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(current_app.config.get("TIMEZONE", "Asia/Shanghai"))).strftime("%Y-%m-%d %H:%M")


@bp.app_template_global()
def status_label(status: str) -> str:
    """A state in Chinese."""
    return STATUS_LABELS.get(status, status)


CHANNEL_LABELS = {"wechat": "微信", "open311": "Open311", "console": "工作台", "hotline": "热线", "h5": "网页",
                  "miniprogram": "小程序"}


@bp.app_template_global()
def channel_label(channel: str) -> str:
    """A channel in Chinese."""
    return CHANNEL_LABELS.get(channel, channel)


@bp.app_template_global()
def action_label(action: str) -> str:
    """A trail action in Chinese."""
    return ACTION_LABELS.get(action, action)


bp.add_app_template_global(note_visibility, "note_visibility")


def _reference() -> dict:
    """Lists for filter and action forms."""
    return {
        "departments": list(db.session.scalars(select(Department).where(Department.active).order_by(Department.code))),
        "categories": list(db.session.scalars(select(Category).order_by(Category.code))),
        "statuses": STATUSES,
        "channels": CHANNELS,
        "cancel_reasons": CANCEL_REASONS,
    }


@bp.route("/")
@staff_required()
def case_list():
    """Cases the user may see, filtered, sorted and paginated, with counts per state at the top."""
    try:
        f = queries.CaseFilter.from_args(request.args)
        page = queries.list_cases(f, g.actor)
    except queries.BadFilter as exc:
        flash(f"筛选条件有误：{exc}", "error")
        f, status = queries.CaseFilter(), 400
        page = queries.list_cases(f, g.actor)
    else:
        status = 200
    cells = list(db.session.scalars(select(GridCell).where(GridCell.level <= 2).order_by(GridCell.code)))
    return render_template("console/cases.html", f=f, page=page, grids=cells, **_reference()), status


@bp.route("/cases/bulk-dispatch", methods=["POST"])
@staff_required("dispatcher")
def bulk_dispatch():
    """Dispatch the selected cases to one department; each case is its own transaction and reports its outcome."""
    dept = request.form.get("department") or None
    ids = [int(x) for x in request.form.getlist("case_id") if x.isdigit()]
    if not ids:
        flash("请先勾选要派遣的案件", "error")
        return redirect(request.referrer or url_for(".case_list"))
    done, failed = 0, []
    for report_id in ids:
        try:
            report = get_report(report_id)
            if not queries.can_see(report, g.actor):
                raise ReportNotFound("没有找到这个案件")
            if report.status == "reported":  # a new case is registered first, as the loop requires
                transition(report_id, "register", g.actor)
            transition(report_id, "dispatch", g.actor, department_code=dept, note=request.form.get("note"))
            done += 1
        except ReportError as exc:
            db.session.rollback()
            failed.append(f"#{report_id}：{exc.message}")
    flash(f"已派遣 {done} 件", "ok")
    for line in failed:
        flash(line, "error")
    return redirect(request.referrer or url_for(".case_list"))


def _visible_report(report_id: int) -> Report:
    try:
        report = get_report(report_id)
    except ReportNotFound:
        abort(404)
    if not queries.can_see(report, g.actor):
        abort(404)  # another department's case: as if it did not exist
    return report


def _map_tiles(report: Report) -> dict | None:
    """A 3×3 mosaic of map tiles around the case with the marker's pixel position, when MAP_TILE_URL is set."""
    template = current_app.config.get("MAP_TILE_URL")
    if not template:
        return None
    lat, lng = geo.from_wgs84(report.lat, report.lng, current_app.config.get("MAP_TILE_CRS", "wgs84"))
    z = 17
    n = 2**z
    xf = (lng + 180.0) / 360.0 * n
    yf = (1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n
    x0, y0 = int(xf) - 1, int(yf) - 1
    tiles = [
        {"url": template.format(z=z, x=x0 + dx, y=y0 + dy, s="abc"[(dx + dy) % 3]), "left": dx * 256, "top": dy * 256}
        for dy in range(3)
        for dx in range(3)
    ]
    return {
        "tiles": tiles,
        "marker_left": round((xf - x0) * 256),
        "marker_top": round((yf - y0) * 256),
        "attribution": current_app.config.get("MAP_TILE_ATTRIBUTION", ""),
    }


def _render_detail(report: Report, error: str | None = None, status: int = 200):
    duplicates = db.session.execute(
        select(Report, DuplicateCandidate.distance_m)
        .join(DuplicateCandidate, DuplicateCandidate.candidate_id == Report.id)
        .where(DuplicateCandidate.report_id == report.id)
        .order_by(DuplicateCandidate.distance_m)
    ).all()
    actions = available_actions(report.status, g.actor, report.department_id)
    return render_template(
        "console/case.html",
        r=report,
        actions=actions,
        duplicates=duplicates,
        map=_map_tiles(report),
        error=error,
        **_reference(),
    ), status


@bp.route("/cases/<int:report_id>")
@staff_required()
def case_detail(report_id: int):
    """One case: photos, location, likely duplicates, the trail, and the actions this user may take now."""
    return _render_detail(_visible_report(report_id))


def _uploaded_photos() -> list[PhotoInput]:
    """Store the handling photos of a form (validated, EXIF stripped); raises MediaRejected."""
    files = [f for f in request.files.getlist("photos") if f and f.filename]
    if len(files) > MAX_UPLOADS:
        raise MediaRejected("too_many", f"最多上传 {MAX_UPLOADS} 张照片")
    out, seen = [], set()
    for upload in files:
        stored = store_image(upload.read())
        if stored.sha256 not in seen:
            seen.add(stored.sha256)
            out.append(PhotoInput(sha256=stored.sha256, width=stored.width, height=stored.height))
    return out


def perform_action(report_id: int, action: str, form) -> Report:
    """Translate an action form into one transition (the rules live in app.reports.services)."""
    version = form.get("expected_version", "")
    duplicate_of = None
    if action == "mark_duplicate":
        ref = (form.get("duplicate_of") or "").strip()
        if ref:
            try:
                duplicate_of = get_report(int(ref)).id if ref.isdigit() else get_report(case_number=ref).id
            except ReportNotFound:
                duplicate_of = None
    return transition(
        report_id,
        action,
        g.actor,
        note=form.get("note"),
        expected_version=int(version) if version.isdigit() else None,
        department_code=form.get("department") or None,
        cancel_reason=form.get("cancel_reason") or None,
        duplicate_of=duplicate_of,
        photos=_uploaded_photos() if action == "handle" else None,
        visibility=form.get("visibility") or None,
    )


@bp.route("/cases/<int:report_id>/actions/<action>", methods=["POST"])
@staff_required()
def case_action(report_id: int, action: str):
    """Take one step; errors are shown on the case page with 409 (conflict, wrong state), 403 or 400."""
    report = _visible_report(report_id)
    try:
        perform_action(report.id, action, request.form)
    except ReportError as exc:
        db.session.rollback()
        code = 403 if isinstance(exc, NotAllowed) else 409 if exc.code in ("conflict", "invalid_transition") else 400
        prefix = "操作冲突：" if isinstance(exc, ConcurrentUpdate) else ""
        return _render_detail(get_report(report_id), prefix + exc.message, code)
    except MediaRejected as exc:
        db.session.rollback()
        return _render_detail(get_report(report_id), f"照片未通过检查：{exc.message}", 400)
    flash(f"已完成「{action_label(action)}」", "ok")
    return redirect(url_for(".case_detail", report_id=report_id))


@bp.route("/media/<sha>/<variant>")
@staff_required()
def media(sha: str, variant: str):
    """A stored photo (original or thumbnail), for staff who may see a case that has it."""
    try:
        path = path_for(sha, variant)
    except MediaRejected:
        abort(404)
    visible = queries.scoped(select(Report.id).join(Photo, Photo.report_id == Report.id), g.actor).where(
        Photo.sha256 == sha
    )
    if db.session.scalar(visible.limit(1)) is None or not path.exists():
        abort(404)
    # Small files, read whole: the ETag is the content hash itself, so a browser revalidates for free.
    response = Response(path.read_bytes(), mimetype="image/jpeg")
    response.set_etag(f"{sha}-{variant}")
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response.make_conditional(request)


@bp.route("/dashboard")
@staff_required()
def dashboard():
    """Charts of the last 30 days, drawn server-side as SVG."""
    return render_template("console/dashboard.html", d=queries.dashboard(g.actor))
