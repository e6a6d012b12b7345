"""Admin pages for convenience points (便民设施): POIs, their categories and the QR signs. Thin views over
app/poi/manage.py; admins only, under the console's login, layout and CSRF."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, or_, select

from app.citizens.auth import staff_required
from app.extensions import db
from app.poi.hours import format_hours
from app.poi.manage import PoiAdminError, add_category, save_poi, set_category_active, update_sign
from app.poi.models import Poi, PoiCategory, Sign

bp = Blueprint("admin", __name__, url_prefix="/poi/staff")
PER_PAGE = 50
CRS_CHOICES = (("wgs84", "WGS-84（GPS）"), ("gcj02", "GCJ-02（腾讯、高德）"), ("bd09", "BD-09（百度）"))


def _page() -> int:
    try:
        return max(1, int(request.args.get("page", "1")))
    except ValueError:
        return 1


@bp.route("/pois")
@staff_required("admin")
def pois():
    """Search and page through the POIs."""
    q = request.args.get("q", "").strip()[:100]
    category = request.args.get("category", "")
    state = request.args.get("state", "active")
    stmt = select(Poi, PoiCategory).join(PoiCategory, PoiCategory.id == Poi.category_id)
    if q:  # `%` and `_` in a search are letters, not LIKE wildcards
        stmt = stmt.where(or_(Poi.name.contains(q, autoescape=True), Poi.address.contains(q, autoescape=True),
                              Poi.external_id == q))
    if category:
        if db.session.scalar(select(PoiCategory.id).where(PoiCategory.code == category)) is None:
            abort(400, description=f"未知类别 {category}")
        stmt = stmt.where(PoiCategory.code == category)
    if state in ("active", "retired"):
        stmt = stmt.where(Poi.active.is_(state == "active"))
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
    page = _page()
    rows = db.session.execute(stmt.order_by(Poi.name, Poi.id).limit(PER_PAGE).offset((page - 1) * PER_PAGE)).all()
    return render_template("poi/admin/pois.html", rows=rows, total=total, page=page, per_page=PER_PAGE, q=q,
                           category=category, state=state, categories=_categories())


@bp.route("/pois/new", methods=["GET", "POST"], defaults={"poi_id": None})
@bp.route("/pois/<int:poi_id>", methods=["GET", "POST"])
@staff_required("admin")
def poi_form(poi_id: int | None):
    """Create or edit one POI (coordinates in the system the admin read them from)."""
    poi = db.session.get(Poi, poi_id) if poi_id is not None else None
    if poi_id is not None and poi is None:
        abort(404)
    form, crs, error = _poi_values(poi), (poi.raw_crs if poi else "gcj02"), None
    if request.method == "POST":
        form, crs = request.form.to_dict(), request.form.get("crs", "wgs84")
        form["accessible"] = "1" if request.form.get("accessible") else "0"
        form["baby_room"] = "1" if request.form.get("baby_room") else "0"
        form["active"] = "1" if request.form.get("active") else "0"
        try:
            saved = save_poi(poi_id, form, crs)
        except PoiAdminError as exc:
            error = exc.message
        else:
            flash(f"已保存「{saved.name}」，附近的标识页几秒内更新", "ok")
            return redirect(url_for(".poi_form", poi_id=saved.id))
    status = 400 if error else 200
    return render_template("poi/admin/poi_form.html", poi=poi, form=form, crs=crs, error=error,
                           categories=_categories(), crs_choices=CRS_CHOICES), status


@bp.route("/categories", methods=["GET", "POST"])
@staff_required("admin")
def categories():
    """The categories shown on sign pages: add one, show or hide one."""
    if request.method == "POST":
        try:
            if request.form.get("action") == "create":
                category = add_category(request.form.get("code", ""), request.form.get("name", ""),
                                        request.form.get("icon", ""), request.form.get("sort", "100"))
                flash(f"已添加类别「{category.name}」", "ok")
            else:
                category = set_category_active(_form_id("category_id"), request.form.get("action") == "show")
                flash(f"类别「{category.name}」已{'显示' if category.active else '隐藏'}", "ok")
        except PoiAdminError as exc:
            flash(exc.message, "error")
        return redirect(url_for(".categories"))
    counts = dict(db.session.execute(select(Poi.category_id, func.count()).where(Poi.active.is_(True))
                                     .group_by(Poi.category_id)).all())
    return render_template("poi/admin/categories.html", categories=_categories(active_only=False), counts=counts)


@bp.route("/signs", methods=["GET", "POST"])
@staff_required("admin")
def signs():
    """The QR signs with their scan counts: relabel, retire or bring back."""
    if request.method == "POST":
        try:
            sign = update_sign(_form_id("sign_id"), request.form.get("label", ""), bool(request.form.get("active")))
            flash(f"标识 {sign.code} 已保存{'（已停用）' if not sign.active else ''}", "ok")
        except PoiAdminError as exc:
            flash(exc.message, "error")
        return redirect(url_for(".signs", q=request.args.get("q", "")))
    q = request.args.get("q", "").strip()[:100]
    stmt = select(Sign)
    if q:
        stmt = stmt.where(or_(Sign.code == q.upper(), Sign.label.contains(q, autoescape=True)))
    page = _page()
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = db.session.scalars(stmt.order_by(Sign.code).limit(PER_PAGE).offset((page - 1) * PER_PAGE)).all()
    return render_template("poi/admin/signs.html", signs=rows, total=total, page=page, per_page=PER_PAGE, q=q)


def _form_id(name: str) -> int:
    try:
        return int(request.form.get(name, ""))
    except ValueError:
        raise PoiAdminError("表单缺少编号") from None


def _categories(active_only: bool = True) -> list[PoiCategory]:
    stmt = select(PoiCategory).order_by(PoiCategory.sort, PoiCategory.code)
    if active_only:
        stmt = stmt.where(PoiCategory.active.is_(True))
    return list(db.session.scalars(stmt))


def _poi_values(poi: Poi | None) -> dict:
    """The form's fields for an existing POI (its coordinates as they were delivered), or defaults."""
    if poi is None:
        return {"active": "1"}
    category = db.session.get(PoiCategory, poi.category_id)
    return {
        "name": poi.name, "category": category.code if category else "", "lat": poi.raw_lat, "lng": poi.raw_lng,
        "address": poi.address or "", "opening_hours": poi.opening_hours or "", "phone": poi.phone or "",
        "fee": poi.fee or "", "spaces": "" if poi.spaces is None else poi.spaces,
        "accessible": "1" if poi.accessible else "0", "baby_room": "1" if poi.baby_room else "0",
        "active": "1" if poi.active else "0", "hours_parsed": format_hours(poi.opening_hours_parsed),
    }
