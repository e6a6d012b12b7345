"""Admin pages of the console: categories (time limit, default department, keywords), departments, routing rules.

The small use cases come first (one transaction each, plain values in, AdminInputError out), then thin views.
"""

from __future__ import annotations

import re

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import delete, select

from app.cache import invalidate
from app.citizens.auth import staff_required
from app.extensions import db
from app.reports.categories import CACHE_NAME as KEYWORD_CACHE
from app.reports.category_admin import KINDS, AdminInputError, create_category, rename_or_move
from app.reports.grids import ROUTING_CACHE, set_routing_rule
from app.reports.models import Category, CategoryKeyword, Department, GridCell, RoutingRule

bp = Blueprint("admin", __name__, url_prefix="/console/admin")

DEPARTMENT_KINDS = ("street", "town", "department", "unit", "property")
_CODE_RE = re.compile(r"^[A-Za-z0-9_-]{2,32}$")


def update_category(
    code: str,
    *,
    time_limit_hours: str,
    department_code: str,
    keywords: str,
    active: bool,
    name: str | None = None,
    parent_code: str | None = None,
) -> None:
    """Change a category's time limit, default department, keywords ("词" or "词:权重", comma/space separated),
    whether it is offered (retire / restore), its name and (subclasses) its class; never its code."""
    category = db.session.scalar(select(Category).where(Category.code == code))
    if category is None:
        raise AdminInputError(f"没有类别 {code}")
    rename_or_move(category, name, parent_code)
    try:
        hours = int(time_limit_hours)
    except (TypeError, ValueError) as exc:
        raise AdminInputError("处置时限应为整数小时") from exc
    if not 1 <= hours <= 24 * 90:
        raise AdminInputError("处置时限应在 1 到 2160 小时之间")
    dept_id = None
    if department_code:
        dept_id = db.session.scalar(select(Department.id).where(Department.code == department_code))
        if dept_id is None:
            raise AdminInputError(f"没有单位 {department_code}")
    parsed: dict[str, float] = {}
    for word in re.split(r"[,，、\s]+", keywords or ""):
        if not word:
            continue
        kw, _, weight = word.partition(":")
        try:
            value = float(weight) if weight else 1.0
        except ValueError as exc:
            raise AdminInputError(f"关键词「{word}」的权重不是数字") from exc
        if not kw or len(kw) > 32 or not 0 < value <= 10:
            raise AdminInputError(f"关键词「{word}」无效（1-32 个字，权重 0-10）")
        parsed[kw] = value
    category.time_limit_hours = hours
    category.default_department_id = dept_id
    category.active = active
    existing = {k.keyword: k for k in category.keywords}
    for kw, k in existing.items():
        if kw not in parsed:
            category.keywords.remove(k)
    for kw, weight in parsed.items():
        if kw in existing:
            existing[kw].weight = weight
        else:
            category.keywords.append(CategoryKeyword(keyword=kw, weight=weight))
    db.session.commit()
    invalidate(KEYWORD_CACHE)
    invalidate(ROUTING_CACHE)


def save_department(code: str, name: str, kind: str, active: bool) -> Department:
    """Create a department or change its name, kind and whether it can receive cases."""
    code, name = (code or "").strip(), (name or "").strip()
    if not _CODE_RE.match(code):
        raise AdminInputError("单位编码应为 2-32 位字母、数字、- 或 _")
    if not name or len(name) > 100:
        raise AdminInputError("请填写单位名称（100 字以内）")
    if kind not in DEPARTMENT_KINDS:
        raise AdminInputError("单位类型无效")
    dept = db.session.scalar(select(Department).where(Department.code == code))
    if dept is None:
        dept = Department(code=code)
        db.session.add(dept)
    dept.name, dept.kind, dept.active = name, kind, active
    db.session.commit()
    invalidate(ROUTING_CACHE)
    return dept


def save_routing_rule(category_code: str, grid_code: str, department_code: str) -> RoutingRule:
    """(category or any) × (grid or any) → department, through app.reports.grids.set_routing_rule."""
    category_id = grid_id = None
    if category_code:
        category_id = db.session.scalar(select(Category.id).where(Category.code == category_code))
        if category_id is None:
            raise AdminInputError(f"没有类别 {category_code}")
    if grid_code:
        grid_id = db.session.scalar(select(GridCell.id).where(GridCell.code == grid_code))
        if grid_id is None:
            raise AdminInputError(f"没有网格 {grid_code}")
    dept_id = db.session.scalar(select(Department.id).where(Department.code == department_code))
    if dept_id is None:
        raise AdminInputError("请选择责任单位")
    return set_routing_rule(category_id, grid_id, dept_id)


def delete_routing_rule(rule_id: int) -> None:
    """Remove a routing rule."""
    db.session.execute(delete(RoutingRule).where(RoutingRule.id == rule_id))
    db.session.commit()
    invalidate(ROUTING_CACHE)


# ------------------------------------------------------------------------------------------------- views


def _lists() -> dict:
    return {
        "categories": list(db.session.scalars(select(Category).order_by(Category.code))),
        "departments": list(db.session.scalars(select(Department).order_by(Department.code))),
        "grids": list(db.session.scalars(select(GridCell).order_by(GridCell.code))),
        "kinds": DEPARTMENT_KINDS,
        "category_kinds": KINDS,
    }


def _done(endpoint: str, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except AdminInputError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return render_template(f"console/admin_{endpoint}.html", **_lists(), rules=_rules()), 400
    flash("已保存", "ok")
    return redirect(url_for(f".{endpoint}"))


def _rules() -> list:
    return list(db.session.scalars(select(RoutingRule).order_by(RoutingRule.id)))


@bp.route("/categories")
@staff_required("admin")
def categories():
    """Categories with their time limits, default departments and keywords."""
    return render_template("console/admin_categories.html", **_lists(), rules=[])


@bp.route("/categories/<code>", methods=["POST"])
@staff_required("admin")
def category_save(code: str):
    """Save one category."""
    form = request.form
    return _done(
        "categories",
        update_category,
        code,
        time_limit_hours=form.get("time_limit_hours", ""),
        department_code=form.get("department", ""),
        keywords=form.get("keywords", ""),
        active=form.get("active") == "1",
        name=form.get("name"),
        parent_code=form.get("parent") or None,
    )


@bp.route("/categories", methods=["POST"])
@staff_required("admin")
def category_create():
    """Add a class or a subclass."""
    f = request.form
    return _done(
        "categories", create_category, f.get("code", ""), f.get("name", ""), f.get("kind", ""), f.get("parent", ""),
        f.get("time_limit_hours", "48"), f.get("department", ""),
    )


@bp.route("/departments")
@staff_required("admin")
def departments():
    """Departments that can receive cases."""
    return render_template("console/admin_departments.html", **_lists(), rules=[])


@bp.route("/departments", methods=["POST"])
@staff_required("admin")
def department_save():
    """Create or edit a department."""
    form = request.form
    return _done(
        "departments", save_department, form.get("code", ""), form.get("name", ""), form.get("kind", ""),
        form.get("active") == "1",
    )


@bp.route("/routing")
@staff_required("admin")
def routing():
    """Routing rules: category × grid → department."""
    return render_template("console/admin_routing.html", **_lists(), rules=_rules())


@bp.route("/routing", methods=["POST"])
@staff_required("admin")
def routing_save():
    """Add or change a routing rule."""
    form = request.form
    return _done(
        "routing", save_routing_rule, form.get("category", ""), form.get("grid", ""), form.get("department", "")
    )


@bp.route("/routing/<int:rule_id>/delete", methods=["POST"])
@staff_required("admin")
def routing_delete(rule_id: int):
    """Delete a routing rule."""
    return _done("routing", delete_routing_rule, rule_id)
