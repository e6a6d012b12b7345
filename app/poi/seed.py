"""Demo data for the poi package: the four categories, a few hundred POIs around Jiangbei and six demo signs."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from app.extensions import db
from app.poi.importer import import_file
from app.poi.models import Poi, PoiCategory, Sign
from app.poi.services import ensure_default_categories

DATA_DIR = Path(__file__).resolve().parent / "data"
DEMO_POIS = DATA_DIR / "jiangbei_demo_pois.csv"  # WGS-84; around real landmarks, positions approximate

# code, label, WGS-84 lat, lng: at the landmarks the demo POIs surround.
DEMO_SIGNS = (
    ("DEMO01", "观音桥步行街北口", 29.5768, 106.5320),
    ("DEMO02", "北城天街南门", 29.5712, 106.5386),
    ("DEMO03", "江北嘴中央公园东门", 29.5692, 106.5791),
    ("DEMO04", "鎏嘉码头广场", 29.5862, 106.5113),
    ("DEMO05", "大石坝十字路口", 29.5931, 106.5206),
    ("DEMO06", "五里店轻轨站出口", 29.5918, 106.5655),
)


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def seed_demo() -> list[str]:
    """Categories, demo POIs (once) and demo signs (those missing); safe to run again."""
    new_categories = ensure_default_categories()
    out = [f"poi categories: {_count(PoiCategory)} ({new_categories} new)"]
    demo = Poi.external_id.like("JBDEMO-%")
    inserted = 0
    if not db.session.scalar(select(func.count()).select_from(Poi).where(demo)):
        inserted = import_file(DEMO_POIS, crs="wgs84").inserted
    out.append(f"demo POIs: {db.session.scalar(select(func.count()).select_from(Poi).where(demo))} ({inserted} new)")
    existing = set(db.session.scalars(select(Sign.code)))
    added = 0
    for code, label, lat, lng in DEMO_SIGNS:
        if code not in existing:
            db.session.add(Sign(code=code, label=label, lat=lat, lng=lng, raw_lat=lat, raw_lng=lng, raw_crs="wgs84",
                                active=True, scan_count=0, note="demo"))
            added += 1
    db.session.commit()
    out.append(f"signs: {_count(Sign)} ({added} new; open /s/DEMO01)")
    return out
