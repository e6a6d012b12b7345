"""Case benchmarks: submit_report vs a bare INSERT; duplicate and grid lookups at 100,000 cases / 5,000 cells.

    python bench/reports_bench.py [--database-url URL] [--submits 500] [--cases 100000] [--cells 5000]

Prints figures; ratios against a baseline measured in the same run (these machines are noisy).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shapely import STRtree
from shapely.geometry import Point, shape
from sqlalchemy import insert, select, text

from app.events import utcnow
from app.extensions import db
from app.reports.grids import find_grid, grid_index, import_grids
from app.reports.models import Category, GridCell, Report
from app.reports.services import Submission, find_duplicate_candidates, submit_report
from app.seed import seed_reference
from bench.common import make_bench_app, pct, summary, timed

MINLAT, MINLNG, MAXLAT, MAXLNG = 29.55, 106.48, 29.72, 106.85


def rand_point(rng: random.Random) -> tuple[float, float]:
    return rng.uniform(MINLAT, MAXLAT), rng.uniform(MINLNG, MAXLNG)


def bench_submit(n: int, rng: random.Random) -> None:
    cats = db.session.scalars(select(Category.code).where(Category.parent_id.isnot(None))).all()
    subs = [Submission(channel="hotline", lat=p[0], lng=p[1], description="路口有人摆摊卖水果",
                       category_code=rng.choice(cats)) for p in (rand_point(rng) for _ in range(n))]
    it = iter(subs)
    submit = timed(lambda: submit_report(next(it)), n)
    row = {"case_number": "", "description": "路口有人摆摊卖水果", "lat": 29.6, "lng": 106.6, "raw_lat": 29.6,
           "raw_lng": 106.6, "raw_crs": "wgs84", "status": "reported", "channel": "hotline", "version": 1,
           "submitted_at": utcnow(), "updated_at": utcnow(), "overdue": False}
    counter = iter(range(n))

    def bare_insert():
        db.session.execute(insert(Report).values(**row | {"case_number": f"BARE{next(counter):08d}"}))
        db.session.commit()

    bare = timed(bare_insert, n)
    print(summary("submit_report (validate, route, dups, trail, outbox)", submit))
    print(summary("bare INSERT of the case row + COMMIT", bare))
    print(f"ratio submit_report / bare insert (time per call): {sum(submit) / sum(bare):.1f}x")


def load_cases(n: int, rng: random.Random) -> None:
    cat_ids = db.session.scalars(select(Category.id).where(Category.parent_id.isnot(None))).all()
    now = utcnow()
    t0 = time.perf_counter()
    batch = []
    for i in range(n):
        lat, lng = rand_point(rng)
        batch.append({"case_number": f"LOAD{i:09d}", "description": "x", "lat": lat, "lng": lng, "raw_lat": lat,
                      "raw_lng": lng, "raw_crs": "wgs84", "status": rng.choice(["reported", "registered",
                                                                                 "dispatched", "handled"]),
                      "channel": "wechat", "version": 1, "submitted_at": now, "updated_at": now, "overdue": False,
                      "category_id": rng.choice(cat_ids)})
        if len(batch) == 5000:
            db.session.execute(insert(Report), batch)
            batch = []
    if batch:
        db.session.execute(insert(Report), batch)
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("ANALYZE reports"))
        db.session.commit()
    print(f"loaded {n} open cases in {time.perf_counter() - t0:.1f} s")


def bench_duplicates(rng: random.Random, n: int = 2000) -> None:
    cats = db.session.scalars(select(Category).where(Category.parent_id.isnot(None))).all()
    points = [rand_point(rng) for _ in range(n)]
    it = iter(points)
    indexed = timed(lambda: find_duplicate_candidates(*next(it), rng.choice(cats)), n)
    db.session.rollback()
    print(summary("duplicate lookup (index on lat,lng)", indexed))
    if db.engine.dialect.name == "postgresql":
        lat, lng = points[0]
        plan = db.session.execute(text(
            "EXPLAIN SELECT id FROM reports WHERE lat BETWEEN :a AND :b AND lng BETWEEN :c AND :d "
            "AND status IN ('reported','registered','dispatched','handled')"),
            {"a": lat - 0.0005, "b": lat + 0.0005, "c": lng - 0.0005, "d": lng + 0.0005}).scalars().all()
        print("  plan:", " | ".join(p.strip() for p in plan[:3]))
        db.session.execute(text("SET enable_indexscan = off"))
        db.session.execute(text("SET enable_bitmapscan = off"))
        it2 = iter(points[:200])
        seq = timed(lambda: find_duplicate_candidates(*next(it2), rng.choice(cats)), 200)
        db.session.rollback()
        print(summary("duplicate lookup, index disabled (seq scan)", seq))
        print(f"ratio seq scan / index p50: {pct(seq, 50) / pct(indexed, 50):.0f}x")


def make_cells(n: int) -> dict:
    cols = 100
    rows = max(1, n // cols)
    dlat, dlng = (MAXLAT - MINLAT) / rows, (MAXLNG - MINLNG) / cols
    feats = []
    for r in range(rows):
        for c in range(cols):
            a, b = MINLAT + r * dlat, MINLNG + c * dlng
            feats.append({"type": "Feature", "properties": {"code": f"B{r:03d}{c:03d}", "name": "cell", "level": 3},
                          "geometry": {"type": "Polygon", "coordinates": [[[b, a], [b + dlng, a], [b + dlng, a + dlat],
                                                                           [b, a + dlat], [b, a]]]}})
    return {"type": "FeatureCollection", "features": feats}


def bench_grid(cells: int, rng: random.Random, n: int = 20000) -> None:
    t0 = time.perf_counter()
    import_grids(make_cells(cells))
    print(f"imported {cells} grid cells in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    grid_index()
    print(f"built the STRtree index in {(time.perf_counter() - t0) * 1e3:.0f} ms")
    points = [rand_point(rng) for _ in range(n)]
    it = iter(points)
    indexed = timed(lambda: find_grid(*next(it)), n)
    print(summary(f"grid lookup, STRtree ({cells} cells + demo grid)", indexed))
    geoms = [shape(g) for g in db.session.scalars(select(GridCell.geometry))]
    it2 = iter(points[:500])
    loop = timed(lambda: [g.contains(Point(p[1], p[0])) for p in [next(it2)] for g in geoms], 500)
    print(summary("grid lookup, loop over every cell (baseline)", loop))
    print(f"ratio loop / index p50: {pct(loop, 50) / pct(indexed, 50):.0f}x")
    assert STRtree  # imported for readers: the index type used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--submits", type=int, default=500)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--cells", type=int, default=5000)
    args = parser.parse_args()
    rng = random.Random(42)
    app = make_bench_app(args.database_url)
    with app.app_context():
        seed_reference()
        print(f"database: {db.engine.url.render_as_string(hide_password=True)}")
        bench_submit(args.submits, rng)
        load_cases(args.cases, rng)
        bench_duplicates(rng)
        bench_grid(args.cells, rng)


if __name__ == "__main__":
    main()
