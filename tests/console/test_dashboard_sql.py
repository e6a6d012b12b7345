"""The dashboard's charts grouped in SQL give the same numbers as reading every case of the period into Python (the
implementation before issue 14's rollup work, kept here as the reference), on randomised cases."""

from __future__ import annotations

import math
import random
import statistics
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from app.extensions import db
from app.reports.dashboard import _service_box, dashboard
from app.reports.models import OPEN_STATUSES, STATUSES, Category, Department, Report
from app.reports.queries import local_day_start, scoped
from tests.factories import actor, report, statements

FIRST, LAST = date(2026, 11, 1), date(2026, 11, 30)
TZ = ZoneInfo("Asia/Shanghai")


def reference(who, first: date, last: date, heat_size: int = 24) -> dict:
    """The charts as the dashboard computed them before: every case read, counted in Python."""
    days = (last - first).days + 1
    since, until = local_day_start(first), local_day_start(last + timedelta(days=1))
    rows = db.session.scalars(
        scoped(select(Report), who).where(Report.submitted_at >= since, Report.submitted_at < until)).all()
    per_day = {s: [0] * days for s in STATUSES}
    cats = {c.id: c for c in db.session.scalars(select(Category))}
    depts = {d.id: d.name for d in db.session.scalars(select(Department))}
    by_cat, by_dept, overdue, close_hours = {}, {}, {}, []
    minlat, minlng, maxlat, maxlng = _service_box()
    ratio = (maxlat - minlat) / ((maxlng - minlng) * math.cos(math.radians((minlat + maxlat) / 2)))
    heat_rows = max(4, min(3 * heat_size, round(heat_size * ratio)))
    heat = [[0] * heat_size for _ in range(heat_rows)]
    for r in rows:
        idx = (r.submitted_at.astimezone(TZ).date() - first).days
        if 0 <= idx < days:
            per_day[r.status][idx] += 1
        cat = cats.get(r.category_id)
        cls = (cats.get(cat.parent_id) if cat and cat.parent_id else cat) if cat else None
        by_cat[cls.name if cls else "未分类"] = by_cat.get(cls.name if cls else "未分类", 0) + 1
        dname = depts.get(r.department_id, "未指定")
        by_dept[dname] = by_dept.get(dname, 0) + 1
        if r.overdue and r.status in OPEN_STATUSES:
            overdue[dname] = overdue.get(dname, 0) + 1
        if r.closed_at is not None and r.status == "closed":
            close_hours.append((r.closed_at - r.submitted_at).total_seconds() / 3600)
        if r.lat is not None and minlat <= r.lat <= maxlat and minlng <= r.lng <= maxlng:
            heat[min(heat_rows - 1, int((maxlat - r.lat) / (maxlat - minlat) * heat_rows))][
                min(heat_size - 1, int((r.lng - minlng) / (maxlng - minlng) * heat_size))] += 1

    def top(d):
        return sorted(d.items(), key=lambda kv: (-kv[1], kv[0]))[:12]

    return {
        "per_day": {s: v for s, v in per_day.items() if any(v)},
        "by_category": top(by_cat), "by_department": top(by_dept), "overdue_by_department": top(overdue),
        "median_hours_to_close": round(statistics.median(close_hours), 1) if close_hours else None,
        "closed_count": len(close_hours), "heat": heat, "total": len(rows),
    }


def randomise(seed: int, n: int) -> None:
    rnd = random.Random(seed)
    cats = list(db.session.scalars(select(Category.id)))
    depts = list(db.session.scalars(select(Department.id)))
    minlat, minlng, maxlat, maxlng = _service_box()
    start = datetime(2026, 10, 31, 16, 0, tzinfo=ZoneInfo("UTC"))
    for i in range(n):
        r = report(f"随机案件 {seed}-{i}")
        # Some right at local midnight (the day boundary), some before or after the period.
        minutes = rnd.choice([0, 1, -1, rnd.randrange(-3 * 1440, 33 * 1440), rnd.randrange(0, 30 * 1440)])
        r.submitted_at = start + timedelta(minutes=rnd.randrange(0, 30) * 1440 + minutes, seconds=rnd.random() * 59)
        r.status = rnd.choice([*STATUSES, "closed", "closed", "closed"])
        r.category_id = rnd.choice([*cats, None])
        r.department_id = rnd.choice([*depts, None])
        r.overdue = rnd.random() < 0.4
        r.closed_at = r.submitted_at + timedelta(hours=rnd.choice([1, 2, 6.5, rnd.random() * 200])) \
            if rnd.random() < 0.7 else None
        where = rnd.random()
        if where < 0.1:
            r.lat = r.lng = None
            r.needs_location = True
        elif where < 0.2:
            r.lat, r.lng = maxlat + 0.5, minlng - 0.5
        elif where < 0.25:
            r.lat, r.lng = maxlat, minlng  # on the box's edge
        else:
            r.lat = minlat + (maxlat - minlat) * rnd.random()
            r.lng = minlng + (maxlng - minlng) * rnd.random()
    db.session.commit()


def figures(d) -> dict:
    return {k: getattr(d, k) for k in ("per_day", "by_category", "by_department", "overdue_by_department",
                                       "median_hours_to_close", "closed_count", "heat", "total")}


def test_the_sql_grouped_dashboard_equals_reading_every_case(app):
    randomise(seed=14, n=61)
    for who in (actor("admin"), actor("handler", "JB-S-GYQ")):
        got = figures(dashboard(who, first=FIRST, last=LAST))
        assert got == reference(who, FIRST, LAST)
    whole = figures(dashboard(actor("admin"), first=FIRST, last=LAST))
    assert whole["total"] > 30 and whole["closed_count"] > 5 and sum(map(sum, whole["heat"])) > 20
    week = figures(dashboard(actor("admin"), first=date(2026, 11, 9), last=date(2026, 11, 15)))
    assert week == reference(actor("admin"), date(2026, 11, 9), date(2026, 11, 15))


def test_an_even_number_of_closed_cases_takes_the_mean_of_the_middle_two(app):
    start = datetime(2026, 11, 2, 0, 0, tzinfo=ZoneInfo("UTC"))
    for hours in (1, 2, 4, 10):
        r = report("已结案")
        r.submitted_at, r.status, r.closed_at = start, "closed", start + timedelta(hours=hours)
    db.session.commit()
    d = dashboard(actor("admin"), first=FIRST, last=LAST)
    assert (d.closed_count, d.median_hours_to_close) == (4, 3.0)


def test_the_median_found_within_its_hour_equals_the_median_of_every_case(app):
    """PostgreSQL looks for the middle cases only within their whole hour to close (counted in the charts' pass):
    cases exactly on an hour's boundary, odd and even counts, the middle two in one hour or in two."""
    start = datetime(2026, 11, 5, 0, 0, tzinfo=ZoneInfo("UTC"))
    rnd = random.Random(7)
    hours_of = []
    with statements("ORDER BY reports.closed_at") as seen:
        for _step in range(7):
            for _ in range(rnd.randint(1, 5)):
                r = report("已结案")
                hours = rnd.choice([1, 2, 3, 2 + rnd.randrange(3600) / 3600, 0.5])
                r.submitted_at, r.status, r.closed_at = start, "closed", start + timedelta(hours=hours)
                hours_of.append(hours)
            db.session.commit()
            d = dashboard(actor("admin"), first=FIRST, last=LAST)
            assert (d.closed_count, d.median_hours_to_close) == (len(hours_of), round(statistics.median(hours_of), 1))
    if db.engine.dialect.name == "postgresql":  # every lookup was confined to an hour (none sorted the month)
        assert seen and all("reports.closed_at - reports.submitted_at >=" in st for st in seen)
