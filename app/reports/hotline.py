"""The hotline operator's form (/console/hotline): a call becomes a case with channel `hotline` via submit_report.

The caller's phone and name are kept in `hotline_callers`, shown on the staff case page only: never on the public
trail, in Open311, in the staff API's case bodies or in notifications. A point on the map, or (address only) the
centre of the grid cell the operator picks, locates the case. A hidden form token makes a double submit one case.
"""

from __future__ import annotations

import re
import secrets

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.citizens.auth import staff_required
from app.citizens.services import Actor
from app.extensions import db
from app.media import MediaRejected, store_image
from app.reports.models import Category, GridCell, Report
from app.reports.services import InvalidReport, PhotoInput, Submission, submit_report
from app.reports.ticket_models import HotlineCaller
from app.reports.workflow import ReportError

bp = Blueprint("hotline", __name__, url_prefix="/console/hotline")

ROLES = ("operator", "dispatcher")
MAX_UPLOADS = 6
_PHONE_RE = re.compile(r"^\+?[0-9][0-9 -]{2,19}$")
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def _float(value: str | None, name: str) -> float | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError as exc:
        raise InvalidReport(f"{name} 应为数字") from exc


def take_call(
    operator: Actor,
    *,
    phone: str,
    name: str = "",
    address: str = "",
    lat: str | None = None,
    lng: str | None = None,
    crs: str = "wgs84",
    grid_code: str = "",
    category_code: str = "",
    description: str = "",
    photos: list[PhotoInput] | None = None,
    form_token: str = "",
) -> Report:
    """Record a hotline call as a case (or find the case this form token already made)."""
    phone, name, address = (phone or "").strip(), (name or "").strip(), (address or "").strip()
    if not _PHONE_RE.match(phone):
        raise InvalidReport("请填写来电号码（数字，3-20 位）")
    if len(name) > 64 or len(address) > 200:
        raise InvalidReport("姓名最多 64 字，地址最多 200 字")
    if not _TOKEN_RE.match(form_token or ""):
        raise InvalidReport("表单已失效，请刷新页面后重新填写")
    point_lat, point_lng = _float(lat, "纬度"), _float(lng, "经度")
    if point_lat is None or point_lng is None:
        cell = db.session.scalar(select(GridCell).where(GridCell.code == grid_code)) if grid_code else None
        if cell is None or not address:
            raise InvalidReport("请在地图上选点，或填写地址并选择所在网格")
        point_lat, point_lng, crs = (cell.min_lat + cell.max_lat) / 2, (cell.min_lng + cell.max_lng) / 2, "wgs84"
    submission = Submission(
        channel="hotline",
        lat=point_lat,
        lng=point_lng,
        crs=crs or "wgs84",
        description=description,
        category_code=category_code or None,
        address=address or None,
        photos=photos or [],
        client_ref=f"hotline:{form_token}",
    )
    try:
        report = submit_report(submission)
    except IntegrityError:  # the same form submitted twice at once: the other request made the case
        db.session.rollback()
        report = db.session.scalar(select(Report).where(Report.client_ref == submission.client_ref))
        if report is None:
            raise
    if db.session.get(HotlineCaller, report.id) is None:
        db.session.add(HotlineCaller(report_id=report.id, phone=phone, name=name, operator_id=operator.id))
        try:
            db.session.commit()
        except IntegrityError:  # the twin request recorded the caller first
            db.session.rollback()
    return db.session.get(Report, report.id)


def caller_of(report_id: int) -> HotlineCaller | None:
    """The caller of a hotline case (staff pages only)."""
    return db.session.get(HotlineCaller, report_id)


def _photos() -> list[PhotoInput]:
    files = [f for f in request.files.getlist("photos") if f and f.filename]
    if len(files) > MAX_UPLOADS:
        raise MediaRejected("too_many", f"最多上传 {MAX_UPLOADS} 张照片")
    out: dict[str, PhotoInput] = {}
    for upload in files:
        stored = store_image(upload.read())
        out.setdefault(stored.sha256, PhotoInput(sha256=stored.sha256, width=stored.width, height=stored.height))
    return list(out.values())


def _render(status: int = 200, error: str | None = None):
    categories = db.session.scalars(
        select(Category).where(Category.active.is_(True), Category.parent_id.isnot(None)).order_by(Category.code)
    )
    grids = db.session.scalars(select(GridCell).where(GridCell.level <= 3).order_by(GridCell.code))
    return render_template(
        "console/hotline.html",
        categories=list(categories),
        grids=list(grids),
        form=request.form,
        form_token=secrets.token_urlsafe(24),
        error=error,
    ), status


@bp.route("", methods=["GET"])
@staff_required(*ROLES)
def form():
    """The call form."""
    return _render()


@bp.route("", methods=["POST"])
@staff_required(*ROLES)
def submit():
    """Record the call; errors are shown on the form with 400."""
    f = request.form
    try:
        report = take_call(
            g.actor,
            phone=f.get("phone", ""),
            name=f.get("name", ""),
            address=f.get("address", ""),
            lat=f.get("lat"),
            lng=f.get("lng"),
            crs=f.get("crs") or "wgs84",
            grid_code=f.get("grid", ""),
            category_code=f.get("category", ""),
            description=f.get("description", ""),
            photos=_photos(),
            form_token=f.get("form_token", ""),
        )
    except ReportError as exc:
        db.session.rollback()
        return _render(400, exc.message)
    except MediaRejected as exc:
        db.session.rollback()
        return _render(400, f"照片未通过检查：{exc.message}")
    flash(f"已受理，案件编号 {report.case_number}", "ok")
    return redirect(url_for("reports.console.case_detail", report_id=report.id))
