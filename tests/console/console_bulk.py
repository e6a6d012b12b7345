"""Many cases fast (one multi-row INSERT per batch, bypassing submit_report): for EXPLAIN tests and benchmarks."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import insert, select

from app.events import utcnow
from app.extensions import db
from app.reports.models import STATUSES, Category, Department, GridCell, Report

CHANNELS = ("wechat", "wechat", "wechat", "open311", "hotline", "console")


def insert_cases(n: int, days: int = 120, seed: int = 7, batch: int = 5000, prefix: str = "BK") -> int:
    """Insert `n` plausible cases spread over the last `days` days; returns how many were inserted."""
    rng = random.Random(seed)
    cats = list(db.session.scalars(select(Category.id).where(Category.parent_id.is_not(None))))
    depts = list(db.session.scalars(select(Department.id)))
    grids = list(db.session.scalars(select(GridCell.id)))
    now = utcnow()
    rows = []
    done = 0
    for i in range(n):
        submitted = now - timedelta(seconds=rng.randint(0, days * 86400))
        status = rng.choice(STATUSES)
        dispatched = status not in ("reported", "registered", "cancelled")
        lat, lng = 29.56 + rng.random() * 0.15, 106.49 + rng.random() * 0.35
        rows.append({
            "case_number": f"{prefix}{i:010d}",
            "category_id": rng.choice(cats),
            "description": "批量生成的测试案件",
            "lat": lat, "lng": lng, "raw_lat": lat, "raw_lng": lng, "raw_crs": "wgs84",
            "grid_id": rng.choice(grids),
            "department_id": rng.choice(depts),
            "status": status,
            "channel": rng.choice(CHANNELS),
            "deadline_at": submitted + timedelta(hours=48) if dispatched else None,
            "dispatched_at": submitted + timedelta(hours=2) if dispatched else None,
            "closed_at": submitted + timedelta(hours=rng.randint(3, 96)) if status == "closed" else None,
            "overdue": dispatched and rng.random() < 0.1,
            "version": 1,
            "submitted_at": submitted,
            "updated_at": submitted,
        })
        if len(rows) >= batch:
            db.session.execute(insert(Report), rows)
            done += len(rows)
            rows = []
    if rows:
        db.session.execute(insert(Report), rows)
        done += len(rows)
    db.session.commit()
    return done
