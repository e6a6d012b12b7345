"""`flask poi import`: CSV and GeoJSON, coordinate systems, upsert by external_id, all-or-nothing with line numbers."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.geo import from_wgs84
from app.poi.importer import ImportRejected, import_pois
from app.poi.models import Poi
from app.poi.services import nearest_pois

HEADER = "external_id,name,category,lat,lng,address,opening_hours,phone,accessible,fee,spaces\n"
GOOD = HEADER + (
    "T1,观音桥公厕1号,toilet,29.5755,106.5318,建新北路1号,24小时,,是,免费,\n"
    "P1,北城天街停车场,parking,29.5722,106.5389,北城天街8号,07:00-23:00,023-67000000,否,5元/小时,300\n"
    "K1,五里店治安岗亭,police_kiosk,29.5920,106.5660,,,,,,\n"
)


def count() -> int:
    return db.session.scalar(select(func.count()).select_from(Poi))


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_a_good_csv_is_imported_with_every_column(runner, tmp_path, categories):
    result = runner.invoke(args=["poi", "import", write(tmp_path, "pois.csv", GOOD)])
    assert result.exit_code == 0, result.output
    assert "imported 3 POIs (3 new, 0 updated)" in result.output
    parking = db.session.scalar(select(Poi).where(Poi.external_id == "P1"))
    assert (parking.name, parking.address, parking.phone, parking.fee, parking.spaces) == (
        "北城天街停车场", "北城天街8号", "023-67000000", "5元/小时", 300)
    assert parking.opening_hours_parsed == [[420, 1380]] and parking.accessible is False
    toilet = db.session.scalar(select(Poi).where(Poi.external_id == "T1"))
    assert toilet.accessible is True and toilet.opening_hours_parsed == [[0, 1440]]
    kiosk = db.session.scalar(select(Poi).where(Poi.external_id == "K1"))
    assert kiosk.opening_hours is None and kiosk.address is None and kiosk.spaces is None
    assert (kiosk.lat, kiosk.lng, kiosk.raw_crs) == (29.5920, 106.5660, "wgs84")


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_coordinates_in_gcj02_or_bd09_are_stored_as_wgs84_with_the_raw_values_kept(runner, tmp_path, categories, crs):
    wgs = (29.5755, 106.5318)
    raw = from_wgs84(*wgs, crs)
    text = HEADER + f"T1,公厕,toilet,{raw[0]:.9f},{raw[1]:.9f},,,,,,\n"
    result = runner.invoke(args=["poi", "import", "--crs", crs, write(tmp_path, "p.csv", text)])
    assert result.exit_code == 0, result.output
    poi = db.session.scalar(select(Poi))
    assert poi.raw_crs == crs and poi.raw_lat == pytest.approx(raw[0], abs=1e-9)
    assert poi.lat == pytest.approx(wgs[0], abs=1e-6) and poi.lng == pytest.approx(wgs[1], abs=1e-6)


def test_every_bad_row_is_reported_with_its_line_and_nothing_is_imported(runner, tmp_path, categories):
    text = HEADER + (
        "T1,好公厕,toilet,29.5755,106.5318,,24小时,,,,\n"  # line 2: good
        "T2,坏纬度,toilet,291.5,106.5318,,,,,,\n"  # 3
        "T3,未知类别,spaceport,29.5,106.5,,,,,,\n"  # 4
        "T1,重复编号,toilet,29.5,106.5,,,,,,\n"  # 5
        "T4,坏时间,toilet,29.5,106.5,,看心情,,,,\n"  # 6
        "\n"  # 7: blank lines are skipped but still counted
        "T5,坏车位,parking,29.5,106.5,,,,,,-3\n"  # 8
        ",没编号,toilet,29.5,106.5,,,,,,\n"  # 9
        "T6,NaN,toilet,nan,106.5,,,,,,\n"  # 10
        "T7,无障碍写错,toilet,29.5,106.5,,,,maybe,,\n"  # 11
        "T8,列太多,toilet,29.5,106.5,,,,,,,extra\n"  # 12
        "T9,好停车场,parking,29.57,106.53,,,,,,10\n"  # 13: good
    )
    result = runner.invoke(args=["poi", "import", write(tmp_path, "bad.csv", text)])
    assert result.exit_code != 0
    out = result.output
    for line, reason in [(3, "纬度"), (4, "未知类别"), (5, "与第 2 行重复"), (6, "无法识别"), (8, "spaces"),
                         (9, "缺少 external_id"), (10, "NaN"), (11, "accessible"), (12, "列数多于表头")]:
        assert f"line {line}: " in out and reason in out.split(f"line {line}: ")[1].splitlines()[0], (line, out)
    assert "line 2:" not in out and "line 13:" not in out
    assert "9 bad row(s); nothing imported" in out
    assert count() == 0


def test_a_file_without_the_required_columns_is_refused_at_line_one(categories):
    with pytest.raises(ImportRejected) as err:
        import_pois("external_id,name,lat,lng\nA,公厕,29.5,106.5\n")
    assert err.value.errors == [(1, "表头缺少必填列: category")]
    assert count() == 0


def test_an_empty_file_and_an_unknown_crs_are_refused(categories):
    with pytest.raises(ImportRejected, match="1 problem"):
        import_pois(HEADER)
    with pytest.raises(ImportRejected) as err:
        import_pois(GOOD, crs="utm")
    assert "未知坐标系" in err.value.errors[0][1]


def test_importing_again_updates_by_external_id_without_duplicates(runner, tmp_path, categories):
    runner.invoke(args=["poi", "import", write(tmp_path, "a.csv", GOOD)])
    changed = HEADER + (
        "T1,观音桥公厕（改名）,toilet,29.5756,106.5318,,06:00-22:00,,否,,\n"
        "T2,新公厕,toilet,29.58,106.54,,,,,,\n"
    )
    result = runner.invoke(args=["poi", "import", write(tmp_path, "b.csv", changed)])
    assert result.exit_code == 0, result.output
    assert "(1 new, 1 updated)" in result.output
    assert count() == 4
    t1 = db.session.scalar(select(Poi).where(Poi.external_id == "T1"))
    db.session.refresh(t1)
    assert (t1.name, t1.lat, t1.accessible) == ("观音桥公厕（改名）", 29.5756, False)
    assert t1.opening_hours_parsed == [[360, 1320]]
    assert [p.name for p in nearest_pois(29.5756, 106.5318, category="toilet", k=1)] == ["观音桥公厕（改名）"]


def test_a_bad_row_in_an_update_leaves_the_existing_data_untouched(tmp_path, categories):
    import_pois(GOOD)
    with pytest.raises(ImportRejected):
        import_pois(HEADER + "T1,改名了,toilet,29.5,106.5,,,,,,\nT2,坏,toilet,abc,106.5,,,,,,\n")
    db.session.expire_all()
    assert db.session.scalar(select(Poi.name).where(Poi.external_id == "T1")) == "观音桥公厕1号"
    assert count() == 3


def _feature(eid, lng, lat, geometry_type="Point", **props):
    return {"type": "Feature", "geometry": {"type": geometry_type, "coordinates": [lng, lat]},
            "properties": {"external_id": eid, "name": f"点{eid}", "category": "toilet", **props}}


def test_a_geojson_file_of_points_is_imported(runner, tmp_path, categories):
    data = {"type": "FeatureCollection", "features": [
        _feature("G1", 106.5318, 29.5755, opening_hours="24小时", accessible=True, spaces=None),
        _feature("G2", 106.5389, 29.5722, category="parking", spaces=120, fee="5元/小时"),
    ]}
    result = runner.invoke(args=["poi", "import", write(tmp_path, "p.geojson", json.dumps(data, ensure_ascii=False))])
    assert result.exit_code == 0, result.output
    g2 = db.session.scalar(select(Poi).where(Poi.external_id == "G2"))
    assert (g2.lat, g2.lng, g2.spaces, g2.fee) == (29.5722, 106.5389, 120, "5元/小时")
    assert db.session.scalar(select(Poi.accessible).where(Poi.external_id == "G1")) is True


def test_bad_geojson_features_are_reported_by_feature_number_and_nothing_is_imported(runner, tmp_path, categories):
    data = {"type": "FeatureCollection", "features": [
        _feature("G1", 106.5318, 29.5755),
        _feature("G2", 106.5, 29.5, geometry_type="Polygon"),
        _feature("G3", 106.5, 95.0),
    ]}
    result = runner.invoke(args=["poi", "import", write(tmp_path, "p.geojson", json.dumps(data))])
    assert result.exit_code != 0
    assert "line 2: 几何类型必须是 Point" in result.output
    assert "line 3: 纬度 95.0 超出范围" in result.output
    assert count() == 0
    broken = runner.invoke(args=["poi", "import", write(tmp_path, "x.geojson", "{not json")])
    assert broken.exit_code != 0 and "不是有效的 JSON" in broken.output


def test_the_demo_data_imports_cleanly_and_seeding_twice_changes_nothing(demo):
    from app.poi.seed import seed_demo

    before = count()
    assert before >= 300
    again = seed_demo()
    assert f"demo POIs: {before} (0 new)" in again and "poi categories: 4 (0 new)" in again
    assert count() == before
