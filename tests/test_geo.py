"""Coordinate systems against published reference pairs, coordinate validation and the service area."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app import geo

# Published by the coordtransform project (its test/app.js), input (lng 116.404, lat 39.915).
REF_WGS_TO_GCJ = ((39.915, 116.404), (39.91640428150164, 116.41024449916938))
REF_GCJ_TO_BD = ((39.915, 116.404), (39.92133699351021, 116.41036949371029))
REF_BD_TO_GCJ = ((39.915, 116.404), (39.90865673957631, 116.39762729119315))


@pytest.mark.parametrize(
    ("fn", "pair"),
    [
        (geo.wgs84_to_gcj02, REF_WGS_TO_GCJ),
        (geo.gcj02_to_bd09, REF_GCJ_TO_BD),
        (geo.bd09_to_gcj02, REF_BD_TO_GCJ),
    ],
)
def test_forward_transforms_match_published_reference_values(fn, pair):
    (lat, lng), (elat, elng) = pair
    got = fn(lat, lng)
    assert got[0] == pytest.approx(elat, abs=1e-9)
    assert got[1] == pytest.approx(elng, abs=1e-9)


def test_gcj02_inverse_is_within_a_centimetre_of_the_original_point():
    wgs = (29.5752, 106.5318)
    back = geo.gcj02_to_wgs84(*geo.wgs84_to_gcj02(*wgs))
    assert geo.distance_m(wgs, back) < 0.01


def test_gcj02_inverse_improves_on_the_one_step_approximation():
    # coordtransform's one-step gcj02towgs84(116.404, 39.915) = (39.91359571849836, 116.39775550083061)
    ours = geo.gcj02_to_wgs84(39.915, 116.404)
    assert geo.distance_m(ours, (39.91359571849836, 116.39775550083061)) < 5
    fwd = geo.wgs84_to_gcj02(*ours)
    assert geo.distance_m(fwd, (39.915, 116.404)) < 0.01


@given(st.floats(18.2, 53.0), st.floats(74.0, 134.0))
def test_round_trips_stay_under_a_metre_anywhere_in_china(lat, lng):
    for crs in ("gcj02", "bd09"):
        back = geo.to_wgs84(*geo.from_wgs84(lat, lng, crs), crs)
        assert geo.distance_m((lat, lng), back) < 1.0


def test_no_offset_outside_china():
    paris = (48.8566, 2.3522)
    assert geo.wgs84_to_gcj02(*paris) == paris
    assert geo.gcj02_to_wgs84(*paris) == paris


def test_wechat_gcj02_location_in_jiangbei_moves_a_few_hundred_metres():
    wgs = geo.to_wgs84(29.5755, 106.5789, "gcj02")
    assert 100 < geo.distance_m(wgs, (29.5755, 106.5789)) < 800


@pytest.mark.parametrize(
    ("lat", "lng", "message"),
    [
        (None, 106.5, "数字"),
        ("abc", 106.5, "数字"),
        (float("nan"), 106.5, "NaN"),
        (29.5, float("inf"), "NaN"),
        (91, 106.5, "纬度"),
        (-90.5, 106.5, "纬度"),
        (29.5, 180.01, "经度"),
        (29.5, -181, "经度"),
    ],
)
def test_bad_coordinates_are_refused_with_a_specific_message(lat, lng, message):
    with pytest.raises(geo.InvalidCoordinates, match=message):
        geo.parse_coordinates(lat, lng)


def test_coordinates_given_as_strings_are_accepted():
    assert geo.parse_coordinates("29.5", "106.5") == (29.5, 106.5)


def test_unknown_crs_is_refused_and_common_spellings_are_accepted():
    assert geo.normalize_crs("GCJ-02") == "gcj02"
    assert geo.normalize_crs("bd09ll") == "bd09"
    with pytest.raises(geo.UnknownCRS):
        geo.normalize_crs("epsg:3857")


def test_service_area_box_and_polygon(tmp_path):
    box = geo.ServiceArea.from_setting("29.55,106.48,29.72,106.85")
    assert box.contains(29.6, 106.6)
    assert not box.contains(39.9, 116.4)
    poly_file = tmp_path / "area.geojson"
    poly_file.write_text('{"type":"Polygon","coordinates":[[[106.5,29.6],[106.6,29.6],[106.5,29.7],[106.5,29.6]]]}')
    poly = geo.ServiceArea.from_setting(str(poly_file))
    assert poly.contains(29.61, 106.51)
    assert not poly.contains(29.69, 106.59)  # inside the bounding box, outside the triangle


def test_degree_box_contains_the_radius_in_every_direction():
    lat, lng, r = 29.6, 106.6, 50.0
    minlat, minlng, maxlat, maxlng = geo.degree_box(lat, lng, r)
    for bearing in range(0, 360, 15):
        from geopy.distance import geodesic

        p = geodesic(meters=r).destination((lat, lng), bearing)
        assert minlat <= p.latitude <= maxlat and minlng <= p.longitude <= maxlng
    assert math.isclose(
        geo.haversine_m(lat, lng, lat + 0.001, lng), geo.distance_m((lat, lng), (lat + 0.001, lng)), rel_tol=0.005
    )
