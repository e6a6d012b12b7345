"""Reference data every installation needs, and demo data for trying the product (idempotent)."""

from __future__ import annotations

import json

from flask import current_app
from sqlalchemy import func, select

from app.citizens.models import StaffUser
from app.citizens.services import create_staff_user, get_or_create_citizen
from app.extensions import db
from app.reports.categories import DATA_DIR, seed_categories, seed_departments
from app.reports.grids import import_grids
from app.reports.models import Category, Department, GridCell, Report
from app.reports.services import Submission, submit_report

# Demo logins, printed by `flask info`. Only created with these passwords in development and testing.
DEMO_STAFF = (
    ("admin", "admin", None, "admin-demo-1"),
    ("dispatcher", "dispatcher", None, "dispatch-demo-1"),
    ("handler", "handler", "JB-S-GYQ", "handler-demo-1"),
    ("inspector", "inspector", None, "inspect-demo-1"),
)

DEMO_CASES = (
    ("oDemoCitizen0001", "观音桥步行街路口有人摆摊卖水果，占了半条人行道", 29.5752, 106.5318, "E0504"),
    ("oDemoCitizen0002", "北城天街后门墙上贴满了小广告", 29.5722, 106.5389, "E0201"),
    ("oDemoCitizen0001", "井盖没了很危险，晚上看不见", 29.5861, 106.5501, None),
    ("oDemoCitizen0003", "车停在人行道上，轮椅过不去", 29.6105, 106.5122, "E0505"),
)


def seed_reference() -> list[str]:
    """Departments, categories with keywords and the demo grid of Jiangbei."""
    new_departments, new_categories = seed_departments(), seed_categories()
    out = [tally("departments", count(Department), new_departments),
           tally("categories", count(Category), new_categories)]
    created = 0
    if count(GridCell) == 0:
        grid = json.loads((DATA_DIR / "jiangbei_demo_grid.geojson").read_text(encoding="utf-8"))
        created, _ = import_grids(grid)
    out.append(tally("grid cells", count(GridCell), created))
    return out


def count(model) -> int:
    """How many rows a table has."""
    return db.session.scalar(select(func.count()).select_from(model))


def tally(what: str, total: int, new: int) -> str:
    """What exists and what this run added: "poi categories: 4 (0 new)"."""
    return f"{what}: {total} ({new} new)"


def seed_demo() -> list[str]:
    """Reference data, demo staff, a few demo cases, then each domain's own demo data."""
    from app.domains import domain_module

    out = seed_reference()
    dev = current_app.config["APP_ENV"] in ("development", "testing")
    depts = {d.code: d.id for d in db.session.scalars(select(Department))}
    new_staff, new_cases = [], 0
    for username, role, dept, password in DEMO_STAFF:
        if db.session.scalar(select(StaffUser).where(StaffUser.username == username)) is None:
            _, pw = create_staff_user(username, role, password if dev else None, depts.get(dept) if dept else None)
            new_staff.append(f"staff user {username} ({role}) created" + ("" if dev else f", password {pw}"))
    out.append(tally("staff users", count(StaffUser), len(new_staff)))
    out += new_staff
    if count(Report) == 0:
        new_cases = len(DEMO_CASES)
        for i, (openid, text, lat, lng, category) in enumerate(DEMO_CASES):
            citizen = get_or_create_citizen(openid)
            submit_report(
                Submission(
                    channel="wechat",
                    lat=lat,
                    lng=lng,
                    crs="wgs84",
                    description=text,
                    category_code=category,
                    citizen_id=citizen.id,
                    client_ref=f"demo:{i}",
                )
            )
    out.append(tally("cases", count(Report), new_cases))
    from app.reports.suggest.service import ensure_model

    out += ensure_model()
    for name in ("poi", "points", "bot"):
        module = domain_module(name, "seed")
        if module is not None:
            out += module.seed_demo()
    return out
