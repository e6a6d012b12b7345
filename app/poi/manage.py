"""Use cases of the POI admin pages: edit one POI, add or retire a category, relabel or retire a sign.

One transaction each. Validation is the importer's (`validate_record`), so a POI typed into a form obeys the same
rules as one in a file. Every commit here touches ORM rows of Poi, PoiCategory or Sign, so the index and the sign
copy of every process are refreshed by `app.cache.invalidate_on_change` (see app/poi/services.py).
"""

from __future__ import annotations

import re
import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.events import utcnow
from app.extensions import db
from app.geo import UnknownCRS, normalize_crs
from app.poi.importer import validate_record
from app.poi.models import Poi, PoiCategory, Sign

CATEGORY_CODE = re.compile(r"^[a-z][a-z0-9_]{1,31}$")
POI_FIELDS = ("name", "category", "lat", "lng", "address", "opening_hours", "phone", "fee", "spaces",
              "accessible", "baby_room")


class PoiAdminError(ValueError):
    """A form that cannot be saved; the message is for the admin (Chinese)."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


def save_poi(poi_id: int | None, form: dict, crs: str = "wgs84") -> Poi:
    """Create (poi_id None) or update a POI from form fields, with coordinates in `crs`; returns it, committed."""
    try:
        crs = normalize_crs(crs)
    except UnknownCRS as exc:
        raise PoiAdminError(str(exc)) from exc
    poi = None
    if poi_id is not None:
        poi = db.session.get(Poi, poi_id)
        if poi is None:
            raise PoiAdminError("没有这个设施")
    record = {name: str(form.get(name) or "").strip() for name in POI_FIELDS}
    record["external_id"] = poi.external_id if poi is not None and poi.external_id else f"admin-{secrets.token_hex(6)}"
    categories = dict(db.session.execute(select(PoiCategory.code, PoiCategory.id)).all())
    try:
        values = validate_record(record, crs, categories)
    except ValueError as exc:
        raise PoiAdminError(str(exc)) from exc
    if poi is None:
        poi = Poi(source="admin", active=True)
        db.session.add(poi)
    for name, value in values.items():
        setattr(poi, name, value)
    poi.active = str(form.get("active", "1")) not in ("", "0", "false", "off")
    poi.updated_at = utcnow()
    db.session.commit()
    return poi


def add_category(code: str, name: str, icon: str = "", sort: int | str = 100) -> PoiCategory:
    """A new POI category (code: lower-case letters, digits, underscore); committed."""
    code, name, icon = code.strip(), name.strip(), icon.strip()
    if not CATEGORY_CODE.match(code):
        raise PoiAdminError("代码应为 2–32 位小写字母、数字或下划线，以字母开头（如 charging）")
    if not name or len(name) > 32:
        raise PoiAdminError("名称应为 1–32 个字")
    if len(icon) > 16:
        raise PoiAdminError("图标最多 16 个字符")
    try:
        sort = int(sort)
    except (TypeError, ValueError):
        raise PoiAdminError("排序应为整数") from None
    category = PoiCategory(code=code, name=name, icon=icon, sort=sort, active=True)
    db.session.add(category)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise PoiAdminError(f"类别代码 {code} 已存在") from None
    return category


def set_category_active(category_id: int, active: bool) -> PoiCategory:
    """Show or hide a whole category on sign pages and in the bot's answers; committed."""
    category = db.session.get(PoiCategory, category_id)
    if category is None:
        raise PoiAdminError("没有这个类别")
    category.active = active
    db.session.commit()
    return category


def update_sign(sign_id: int, label: str, active: bool) -> Sign:
    """Relabel a sign, retire it (its code then shows the friendly not-found page) or bring it back; committed."""
    sign = db.session.get(Sign, sign_id)
    if sign is None:
        raise PoiAdminError("没有这个标识")
    label = label.strip()
    if not label or len(label) > 100:
        raise PoiAdminError("名称应为 1–100 个字")
    sign.label, sign.active = label, active
    db.session.commit()
    return sign
