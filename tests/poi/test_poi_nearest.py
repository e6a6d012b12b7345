"""Nearest POIs: the KD-tree shortlist + geodesic ranking equals a brute-force geopy scan, and index refresh."""

from __future__ import annotations

import numpy as np
import pytest
from geopy.distance import geodesic
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select

from app import create_app
from app.extensions import db
from app.geo import InvalidCoordinates
from app.poi.importer import import_pois
from app.poi.index import SPHERE_TO_GEODESIC_MIN, CategoryInfo, PoiIndex, geodesic_m, unit_vectors
from app.poi.models import Poi, PoiCategory
from app.poi.services import UnknownPoiCategory, nearest_pois, poi_index, refresh_index
from tests.conftest import REDIS_URL, make_config

CATS = [CategoryInfo(i + 1, code, code, "", i) for i, code in enumerate(["toilet", "parking", "police_kiosk"])]


def geopy_distances(lat, lng, lats, lngs):
    """Every POI's geodesic distance by geopy, one call each (the brute-force scan)."""
    return [geodesic((lat, lng), (la, ln)).meters for la, ln in zip(lats, lngs, strict=True)]


def brute_force(distances, ids, cats, category=None, k=5, within_m=None):
    """What nearest must return: the scan's distances filtered and sorted at millimetre resolution (ties by id)."""
    rows = sorted(
        ((d, pid) for d, pid, cat in zip(distances, ids, cats, strict=True)
         if (category is None or cat == category) and (within_m is None or d <= within_m)),
        key=lambda row: (round(row[0], 3), row[1]),
    )
    return rows[:k]


def random_pois(n, seed, spread=0.05, center=(29.60, 106.55)):
    rng = np.random.default_rng(seed)
    lats = center[0] + rng.normal(0, spread, n)
    lngs = center[1] + rng.normal(0, spread, n)
    # a dense cluster too: many near-ties inside a few metres
    lats[: n // 10] = center[0] + rng.normal(0, 0.0002, n // 10)
    lngs[: n // 10] = center[1] + rng.normal(0, 0.0002, n // 10)
    cat_ids = rng.integers(1, 4, n)
    ids = rng.permutation(np.arange(1, n + 1) * 7)
    return ids, cat_ids, lats, lngs


def test_geodesic_is_never_shorter_than_the_bound_the_shortlist_relies_on():
    rng = np.random.default_rng(3)
    lat1, lng1 = rng.uniform(-85, 85, 300), rng.uniform(-180, 180, 300)
    lat2 = np.clip(lat1 + rng.normal(0, 2, 300), -89, 89)
    lng2 = lng1 + rng.normal(0, 2, 300)
    chord = np.linalg.norm(unit_vectors(lat1, lng1) - unit_vectors(lat2, lng2), axis=1)
    sphere = 2 * 6371008.8 * np.arcsin(chord / 2)
    geo = np.array([geodesic((a, b), (c, d)).meters for a, b, c, d in zip(lat1, lng1, lat2, lng2, strict=True)])
    ratio = geo / sphere
    assert ratio.min() >= SPHERE_TO_GEODESIC_MIN
    assert ratio.min() < 1 - 0.004  # the bound is close to what happens: ranking differs from the sphere's


def test_vectorised_geodesic_agrees_with_geopy_to_a_millimetre():
    lats, lngs = np.array([29.5, 29.7, -33.9, 51.5]), np.array([106.4, 106.9, 151.2, -0.1])
    got = geodesic_m(29.6, 106.5, lats, lngs)
    want = [geodesic((29.6, 106.5), (a, b)).meters for a, b in zip(lats, lngs, strict=True)]
    assert np.allclose(got, want, atol=1e-3, rtol=0)


@pytest.mark.parametrize("seed", [1, 2])
def test_index_returns_exactly_what_a_brute_force_geopy_scan_returns(seed):
    ids, cat_ids, lats, lngs = random_pois(2500, seed)
    index = PoiIndex.build(ids, cat_ids, lats, lngs, CATS)
    codes = [CATS[c - 1].code for c in cat_ids]
    rng = np.random.default_rng(seed + 100)
    queries = [(29.60, 106.55), (29.6001, 106.5499)] + [(29.6 + rng.normal(0, 0.06), 106.55 + rng.normal(0, 0.06))
                                                     for _ in range(3)]
    for lat, lng in queries:
        scan = geopy_distances(lat, lng, lats, lngs)
        for category, k, within in [(None, 5, None), ("parking", 3, None), ("toilet", 12, None), (None, 7, 1500.0)]:
            hits = index.nearest(lat, lng, category=category, k=k, within_m=within)
            want = brute_force(scan, ids, codes, category, k, within)
            assert [h.poi_id for h in hits] == [pid for _, pid in want]
            assert [h.distance_m for h in hits] == pytest.approx([d for d, _ in want], abs=1e-6)
            if category:
                assert {h.category for h in hits} <= {category}


def test_a_radius_with_nothing_inside_returns_nothing_and_k_larger_than_the_data_returns_all():
    ids, cat_ids, lats, lngs = random_pois(50, 9)
    index = PoiIndex.build(ids, cat_ids, lats, lngs, CATS)
    assert index.nearest(0.0, 0.0, within_m=1000) == []
    assert len(index.nearest(29.6, 106.55, k=500)) == 50
    assert index.nearest(29.6, 106.55, category="parking", k=0) == []


def test_an_empty_index_answers_with_no_pois():
    index = PoiIndex.build([], [], [], [], CATS)
    assert index.nearest(29.6, 106.55) == []
    assert index.nearest(29.6, 106.55, category="toilet") == []


def _csv(rows):
    lines = ["external_id,name,category,lat,lng,opening_hours"]
    lines += [f"{eid},{name},{cat},{lat:.7f},{lng:.7f},24小时" for eid, name, cat, lat, lng in rows]
    return "\n".join(lines) + "\n"


def test_nearest_pois_from_the_database_matches_brute_force_and_carries_details(categories):
    _, cat_ids, lats, lngs = random_pois(1500, 5)
    codes = ["toilet", "parking", "police_kiosk"]
    triples = zip(cat_ids, lats, lngs, strict=True)
    rows = [(f"R{i}", f"点{i}", codes[c - 1], la, ln) for i, (c, la, ln) in enumerate(triples)]
    import_pois(_csv(rows))
    by_ext = dict(db.session.execute(select(Poi.external_id, Poi.id)).all())
    db_ids = [by_ext[r[0]] for r in rows]
    db_lats = [round(r[3], 7) for r in rows]
    db_lngs = [round(r[4], 7) for r in rows]
    for lat, lng, category in [(29.61, 106.56, None), (29.58, 106.52, "police_kiosk")]:
        got = nearest_pois(lat, lng, category=category, k=6)
        want = brute_force(geopy_distances(lat, lng, db_lats, db_lngs), db_ids, [r[2] for r in rows], category, 6)
        assert [p.id for p in got] == [pid for _, pid in want]
        assert [p.distance_m for p in got] == pytest.approx([d for d, _ in want], abs=1e-6)
    first = nearest_pois(29.61, 106.56, k=1)[0]
    assert first.category_name in ("公厕", "停车场", "治安岗亭")
    assert first.open_now is True and first.walk_minutes >= 1 and first.name.startswith("点")


def test_nearest_pois_refuses_bad_coordinates_and_unknown_categories(categories):
    with pytest.raises(InvalidCoordinates):
        nearest_pois(float("nan"), 106.5)
    with pytest.raises(InvalidCoordinates):
        nearest_pois(91, 106.5)
    with pytest.raises(UnknownPoiCategory):
        nearest_pois(29.6, 106.5, category="spaceport")


def _add_poi(name, lat, lng, code="toilet", eid=None):
    cat_id = db.session.scalar(select(PoiCategory.id).where(PoiCategory.code == code))
    db.session.add(Poi(external_id=eid, name=name, category_id=cat_id, lat=lat, lng=lng, raw_lat=lat, raw_lng=lng,
                       raw_crs="wgs84", active=True))
    db.session.commit()


def test_an_orm_change_rebuilds_the_index_and_plain_sql_waits_for_refresh_index(categories):
    _add_poi("老公厕", 29.60, 106.55)
    assert [p.name for p in nearest_pois(29.6, 106.55, k=5)] == ["老公厕"]
    _add_poi("新公厕", 29.6001, 106.5501)  # through the ORM: the commit bumps the index's version
    assert [p.name for p in nearest_pois(29.6, 106.55, k=5)] == ["老公厕", "新公厕"]
    cat_id = db.session.scalar(select(PoiCategory.id).where(PoiCategory.code == "toilet"))
    db.session.execute(insert(Poi).values(name="第三处", category_id=cat_id, lat=29.6002, lng=106.5502, raw_lat=29.6002,
                                          raw_lng=106.5502, raw_crs="wgs84", active=True))  # behind the index's back
    db.session.commit()
    assert [p.name for p in nearest_pois(29.6, 106.55, k=5)] == ["老公厕", "新公厕"]
    refresh_index()
    assert [p.name for p in nearest_pois(29.6, 106.55, k=5)] == ["老公厕", "新公厕", "第三处"]


def test_an_import_is_seen_by_the_next_search_without_a_restart(categories):
    assert nearest_pois(29.6, 106.55) == []
    import_pois(_csv([("N1", "新停车场", "parking", 29.6, 106.55)]))
    assert [p.name for p in nearest_pois(29.6, 106.55)] == ["新停车场"]


def test_a_retired_poi_disappears_from_results_at_once(categories):
    import_pois(_csv([("A", "甲", "toilet", 29.6, 106.55), ("B", "乙", "toilet", 29.601, 106.55)]))
    poi = db.session.scalar(select(Poi).where(Poi.external_id == "A"))
    poi.active = False
    db.session.commit()  # no refresh call: the ORM change bumps the index
    assert [p.name for p in nearest_pois(29.6, 106.55)] == ["乙"]


def _second_instance(app, tmp_path, share_redis: bool):
    other = create_app(make_config(tmp_path))
    if share_redis:  # fakeredis: give the second app the first one's store, as a real Redis would be shared
        other.extensions["redis"] = app.extensions["redis"]
    return other


def _search_in(other):
    with other.app_context():
        try:
            return [p.name for p in nearest_pois(29.6, 106.55, k=5)]
        finally:
            db.session.remove()


@pytest.mark.parametrize("share", ["same Redis store", "real Redis"])
def test_an_import_in_one_app_instance_is_seen_by_another_instance_without_a_restart(app, tmp_path, categories, share):
    if share == "real Redis" and not REDIS_URL:
        pytest.skip("two app instances share a Redis only when REDIS_URL is set (fakeredis is per app)")
    import_pois(_csv([("X1", "第一处", "toilet", 29.6, 106.55)]))
    db.session.commit()
    other = _second_instance(app, tmp_path, share_redis=share != "real Redis")
    assert _search_in(other) == ["第一处"]  # the other instance built its own index
    import_pois(_csv([("X2", "第二处", "toilet", 29.6002, 106.55)]))
    db.session.commit()
    assert _search_in(other) == ["第一处", "第二处"]
    with other.app_context():
        db.engine.dispose()


def test_the_index_is_built_once_and_reused_between_changes(categories):
    import_pois(_csv([("A", "甲", "toilet", 29.6, 106.55)]))
    first = poi_index()
    assert poi_index() is first
    refresh_index()
    assert poi_index() is not first


coordinate = st.tuples(st.floats(-89.9, 89.9), st.floats(-180, 180))


@settings(max_examples=40, deadline=None)
@given(
    points=st.lists(coordinate, min_size=1, max_size=40),
    duplicates=st.integers(0, 5),
    query=coordinate,
    k=st.integers(1, 8),
    within=st.one_of(st.none(), st.floats(1, 5_000_000)),
)
@example(points=[(0.0, 0.0), (2.220446049250313e-16, 0.0)], duplicates=0, query=(3.0, 0.0), k=1, within=None)
def test_anywhere_on_earth_with_ties_the_index_agrees_with_brute_force(points, duplicates, query, k, within):
    points = points + points[:duplicates]  # exact duplicates: ties broken by id
    lats = np.array([p[0] for p in points])
    lngs = np.array([p[1] for p in points])
    ids = np.arange(len(points)) * 3 + 1
    cats = np.ones(len(points), dtype=int)
    index = PoiIndex.build(ids, cats, lats, lngs, CATS)
    hits = index.nearest(query[0], query[1], k=k, within_m=within)
    want = brute_force(geopy_distances(query[0], query[1], lats, lngs), ids, ["toilet"] * len(points), None, k,
                       within)
    assert [h.poi_id for h in hits] == [pid for _, pid in want]


def test_nearest_pois_within_a_radius_returns_only_what_is_inside(categories):
    import_pois(_csv([("A", "近", "toilet", 29.6, 106.55), ("B", "远", "toilet", 29.61, 106.55)]))
    assert [p.name for p in nearest_pois(29.6, 106.55, within_m=500)] == ["近"]
    assert [p.name for p in nearest_pois(29.6, 106.55, within_m=5000)] == ["近", "远"]
