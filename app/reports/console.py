"""The staff console: case list, case detail with its actions, bulk dispatch, staff-only photos, dashboard."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, current_app, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from app.citizens.auth import staff_required
from app.events import utcnow
from app.extensions import db
from app.media import MediaRejected, path_for, store_image
from app.reports import assessment, queries
from app.reports.dashboard import dashboard as dashboard_figures
from app.reports.feedback import case_feedback, return_visits
from app.reports.map_data import case_point
from app.reports.models import (
    CHANNEL_LABELS,
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
from app.reports.periods import last_days, period_from_args
from app.reports.placement import place_case
from app.reports.services import InvalidReport, PhotoInput, ReportNotFound, get_report, transition
from app.reports.supervision import ALERT_LABELS, available_case_actions, parse_deadline, recategorize, supervise
from app.reports.tickets_console import intake_details
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

ACTION_LABELS = (
    {s.action: s.label for s in STEPS.values()}
    | ALERT_LABELS
    | {
        "submit": "上报",
        "overdue": "超期督办",
        "comment": "备注",
        "locate": "确定位置",
        "moderate": "内容审核",
        "feedback": "回访评价",
        "feedback_note": "市民补充说明",
    }
)
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


@bp.app_template_global()
def channel_label(channel: str) -> str:
    """A channel in Chinese."""
    return CHANNEL_LABELS.get(channel, channel)


DEPARTMENT_KINDS = {"street": "街道办事处", "town": "镇人民政府", "department": "区级部门", "unit": "事业单位",
                    "property": "物业公司"}
CATEGORY_KINDS = {"event": "事件", "component": "部件"}


@bp.app_template_global()
def department_kind_label(kind: str) -> str:
    """A department type in Chinese."""
    return DEPARTMENT_KINDS.get(kind, kind)


@bp.app_template_global()
def category_label(category) -> str:
    """A category as staff read it: 事件 E0504 占道经营 (the code stays visible: integrations use it)."""
    if category is None:
        return "待分类"
    return f"{CATEGORY_KINDS.get(category.kind, category.kind)} {category.code} {category.name}"


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
        point=case_point(report),
        tiles={"url": current_app.config.get("MAP_TILE_URL") or "",
               "attribution": current_app.config.get("MAP_TILE_ATTRIBUTION") or ""},
        proposed_root=proposed_root(report, [d for d, _ in duplicates]),
        feedback=case_feedback(report.id),
        visits=return_visits(report.id),
        rating_labels=RATING_LABELS,
        now=utcnow(),
        error=error,
        case_actions=available_case_actions(report, g.actor),
        **intake_details(report.id),
        **_reference(),
    ), status


RATING_LABELS = {"satisfied": "满意", "basically_satisfied": "基本满意", "dissatisfied": "不满意"}


def proposed_root(report: Report, candidates: list[Report]) -> Report | None:
    """The case to merge this one into: the earliest report of the problem (its reporter earns the points). None when
    this case is the earliest (then the others are merged into it)."""
    roots = {(db.session.get(Report, c.duplicate_of_id) if c.duplicate_of_id else c) for c in candidates}
    mine = (report.submitted_at, report.id)
    earlier = [c for c in roots if c.status != "cancelled" and (c.submitted_at, c.id) < mine]
    return min(earlier, key=lambda c: (c.submitted_at, c.id)) if earlier else None


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


def _local_deadline(value: str):
    """A datetime-local form value is the city's local time; a zoned ISO value is taken as it is."""
    value = value.strip()
    if value and len(value) <= 19 and "T" in value and "+" not in value and not value.endswith("Z"):
        tz = ZoneInfo(current_app.config.get("TIMEZONE", "Asia/Shanghai"))
        try:
            return datetime.fromisoformat(value).replace(tzinfo=tz)
        except ValueError as exc:
            raise InvalidReport("新的处置时限格式不对") from exc
    return parse_deadline(value or None)


def perform_action(report_id: int, action: str, form) -> Report:
    """Translate an action form into one transition (the rules live in app.reports.services)."""
    version = form.get("expected_version", "")
    expected = int(version) if version.isdigit() and len(version) < 10 else None
    if action == "recategorize":
        return recategorize(report_id, g.actor, form.get("category", ""), form.get("note"), expected)
    if action == "supervise":
        deadline = _local_deadline(form.get("deadline") or "")
        return supervise(report_id, g.actor, form.get("note"), deadline, expected)
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


@bp.route("/cases/<int:report_id>/location", methods=["POST"])
@staff_required()
def case_location(report_id: int):
    """The dispatcher places a case that came without a point (app.reports.placement)."""
    report = _visible_report(report_id)
    form = request.form
    version = form.get("expected_version", "")
    try:
        place_case(report.id, form.get("lat", ""), form.get("lng", ""), g.actor, crs=form.get("crs") or "wgs84",
                   expected_version=int(version) if version.isdigit() else None)
    except ReportError as exc:
        db.session.rollback()
        code = 403 if isinstance(exc, NotAllowed) else 409 if exc.code in ("conflict", "invalid_transition") else 400
        return _render_detail(get_report(report_id), exc.message, code)
    flash("已确定位置", "ok")
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
    """Charts of a period (the last 30 days unless one is picked), drawn server-side as SVG, with the assessment's
    headline figures for the same period."""
    picked = any(request.args.get(k) for k in ("period", "date_from", "date_to"))
    status = 200
    try:
        period = period_from_args(request.args) if picked else None
    except queries.BadFilter as exc:
        flash(f"统计时段有误：{exc}", "error")
        period, status = None, 400
    if period is None:
        period = last_days(30)
    d = dashboard_figures(g.actor, first=period.first, last=period.last)
    summary = assessment.summary(period, g.actor)
    return render_template("console/dashboard.html", d=d, s=summary, p=period.as_json()), status
