"""Admins add, rename, retire and move categories (部件/事件 classes and subclasses). Codes never change: once a
code exists, cases, routing rules, Open311 service codes and the assessment refer to it; a retired category is no
longer offered but stays readable on the cases that have it. One transaction each; AdminInputError for the admin."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.cache import invalidate
from app.extensions import db
from app.reports.categories import CACHE_NAME as KEYWORD_CACHE
from app.reports.grids import ROUTING_CACHE
from app.reports.models import Category, Department

KINDS = {"event": "事件", "component": "部件"}
_CODE_RE = re.compile(r"^[A-Z][0-9A-Z]{2,15}$")


class AdminInputError(ValueError):
    """An edit we refuse, with a message for the admin."""


def _name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 64:
        raise AdminInputError("请填写类别名称（64 字以内）")
    return name


def _class(code: str, kind: str | None = None) -> Category:
    parent = db.session.scalar(select(Category).where(Category.code == code, Category.parent_id.is_(None)))
    if parent is None:
        raise AdminInputError(f"没有大类 {code}")
    if kind is not None and parent.kind != kind:
        raise AdminInputError(f"大类 {code} 是{KINDS.get(parent.kind, parent.kind)}，不能放入{KINDS.get(kind, kind)}")
    return parent


def create_category(
    code: str, name: str, kind: str, parent_code: str = "", time_limit_hours: str = "48", department_code: str = ""
) -> Category:
    """A new class (no parent) or subclass (under a class of the same kind); the code is final."""
    code = (code or "").strip().upper()
    if not _CODE_RE.match(code):
        raise AdminInputError("类别编码应为 3-16 位大写字母或数字，以字母开头（如 E06、E0601）")
    if db.session.scalar(select(Category.id).where(Category.code == code)) is not None:
        raise AdminInputError(f"编码 {code} 已存在（编码一经使用不能改动或重复）")
    if kind not in KINDS:
        raise AdminInputError("类型应为事件或部件")
    parent = _class(parent_code, kind) if parent_code else None
    try:
        hours = int(time_limit_hours or 48)
    except ValueError as exc:
        raise AdminInputError("处置时限应为整数小时") from exc
    if not 1 <= hours <= 24 * 90:
        raise AdminInputError("处置时限应在 1 到 2160 小时之间")
    dept_id = None
    if department_code:
        dept_id = db.session.scalar(select(Department.id).where(Department.code == department_code))
        if dept_id is None:
            raise AdminInputError(f"没有单位 {department_code}")
    category = Category(
        code=code,
        name=_name(name),
        kind=kind,
        parent_id=parent.id if parent else None,
        time_limit_hours=hours,
        default_department_id=dept_id,
        active=True,
    )
    db.session.add(category)
    db.session.commit()
    invalidate(KEYWORD_CACHE)
    invalidate(ROUTING_CACHE)
    return category


def rename_or_move(category: Category, name: str | None, parent_code: str | None) -> None:
    """Rename a category and/or move a subclass under another class of the same kind (the caller commits)."""
    if name is not None:
        category.name = _name(name)
    if parent_code and (category.parent is None or category.parent.code != parent_code):
        if category.parent_id is None:
            raise AdminInputError("大类不能移动到其他大类下")
        category.parent_id = _class(parent_code, category.kind).id
