"""Benchmark `flask poi import`: rows per second for a 20,000-row CSV, first as inserts, then again as updates.

    /work/venv/bin/python bench/poi_import.py [--rows 20000] [--crs gcj02]
    DATABASE_URL=postgresql://postgres@127.0.0.1/baixing_poi /work/venv/bin/python bench/poi_import.py

Baseline in the same run: the same rows added as ORM objects one by one (session.add per row, one commit), the way
the importer deliberately does not work. WARNING: with DATABASE_URL set it drops and recreates every table there.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def write_csv(path: Path, n: int, seed: int = 7) -> None:
    """A realistic CSV: every column filled, a mix of categories and hours."""
    rng = np.random.default_rng(seed)
    cats = ["toilet", "parking", "police_kiosk", "car_wash"]
    hours = ["24小时", "06:00-22:00", "08:30-12:00,13:30-19:00", "22:00-02:00", ""]
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["external_id", "name", "category", "lat", "lng", "address", "opening_hours", "phone",
                    "accessible", "fee", "spaces"])
        for i in range(n):
            w.writerow([f"B{i:07d}", f"便民点{i}号", cats[i % 4], f"{29.63 + rng.normal(0, 0.05):.6f}",
                        f"{106.60 + rng.normal(0, 0.05):.6f}", f"重庆市江北区测试路{i % 500}号", hours[i % 5],
                        "023-67000000", "是" if i % 3 == 0 else "否", "免费", str(i % 300) if i % 4 == 1 else ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--crs", default="wgs84", choices=["wgs84", "gcj02", "bd09"])
    args = parser.parse_args()

    from sqlalchemy import delete

    from app import create_app
    from app.extensions import db
    from app.poi.importer import import_file, parse_file
    from app.poi.models import Poi
    from app.poi.services import ensure_default_categories

    tmp = Path(tempfile.mkdtemp())
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp}/bench.db"
    app = create_app({"APP_ENV": "testing", "DATABASE_URL": url, "REDIS_URL": os.environ.get("REDIS_URL", "")})
    path = tmp / "pois.csv"
    write_csv(path, args.rows)
    with app.app_context():
        db.drop_all()
        db.create_all()
        ensure_default_categories()
        print(f"import benchmark, {time.strftime('%Y-%m-%d %H:%M')} UTC, {db.engine.dialect.name}, "
              f"{args.rows:,} rows, crs {args.crs}, load average {os.getloadavg()[0]:.1f}")
        t = time.perf_counter()
        rows = parse_file(path.read_text(encoding="utf-8"), "csv", args.crs)
        check = time.perf_counter() - t
        print(f"validate only: {args.rows / check:,.0f} rows/s ({check:.2f} s)")
        t = time.perf_counter()
        result = import_file(path, crs=args.crs)
        first = time.perf_counter() - t
        print(f"import, all new ({result.inserted:,} inserted): {args.rows / first:,.0f} rows/s ({first:.2f} s)")
        t = time.perf_counter()
        result = import_file(path, crs=args.crs)
        again = time.perf_counter() - t
        print(f"import again, all updates ({result.updated:,} updated): {args.rows / again:,.0f} rows/s "
              f"({again:.2f} s)")
        db.session.execute(delete(Poi))
        db.session.commit()
        t = time.perf_counter()
        for row in rows:
            db.session.add(Poi(**row, source="bench", active=True))
        db.session.commit()
        orm = time.perf_counter() - t
        print(f"baseline, ORM objects one by one (validated rows, inserts only): {args.rows / orm:,.0f} rows/s "
              f"({orm:.2f} s); bulk import is {orm / first:.1f}x faster end to end including validation")
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


if __name__ == "__main__":
    main()
