"""Grid import, point lookup through the spatial index, and routing with its fallbacks."""

import json

import pytest
from sqlalchemy import select

from app.extensions import db
from app.reports.grids import GridImportError, find_grid, import_grids, resolve_department, set_routing_rule
from app.reports.models import Category, Department, GridCell
from tests.factories import department_id


def cell(code):
    return db.session.scalar(select(GridCell).where(GridCell.code == code))


def category(code):
    return db.session.scalar(select(Category).where(Category.code == code))


def square(code, minlat, minlng, size, **props):
    return {
        "type": "Feature",
        "properties": {"code": code, "name": code, **props},
        "geometry": {
            "type": "Polygon",
            "coordinates": [
                [
                    [minlng, minlat],
                    [minlng + size, minlat],
                    [minlng + size, minlat + size],
                    [minlng, minlat + size],
                    [minlng, minlat],
                ]
            ],
        },
    }


def test_lookup_returns_the_deepest_cell(app):
    assert find_grid(29.5720, 106.5390) == cell("JB-GYQ-02-P01").id  # 北城天街 property cell (level 4)
    assert find_grid(29.5600, 106.5300) == cell("JB-GYQ-02").id  # a community (level 3)
    assert find_grid(29.6500, 106.8000) == cell("JB-YZ").id  # a town (level 2)
    assert find_grid(39.9, 116.4) is None


def test_import_is_all_or_nothing_and_lists_every_problem(app):
    before = db.session.scalar(select(db.func.count()).select_from(GridCell))
    bowtie = square("BAD2", 29.6, 106.6, 0.01)
    bowtie["geometry"]["coordinates"][0][1:3] = [
        bowtie["geometry"]["coordinates"][0][2],
        bowtie["geometry"]["coordinates"][0][1],
    ]
    bad = {
        "type": "FeatureCollection",
        "features": [
            square("OK1", 29.6, 106.6, 0.01),
            {"type": "Feature", "properties": {"name": "no code"}, "geometry": square("x", 0, 0, 1)["geometry"]},
            bowtie,
            {
                "type": "Feature",
                "properties": {"code": "PT", "name": "a point"},
                "geometry": {"type": "Point", "coordinates": [106.6, 29.6]},
            },
            square("ORPHAN", 29.6, 106.6, 0.01, parent="NOPE"),
            square("DEPT", 29.6, 106.6, 0.01, department="NO-SUCH-DEPT"),
        ],
    }
    with pytest.raises(GridImportError) as err:
        import_grids(bad)
    reasons = dict(err.value.errors)
    assert set(reasons) == {2, 3, 4, 5, 6}
    assert "required" in reasons[2] and "invalid polygon" in reasons[3] and "Point" in reasons[4]
    assert "unknown parent" in reasons[5] and "unknown department" in reasons[6]
    assert db.session.scalar(select(db.func.count()).select_from(GridCell)) == before
    assert cell("OK1") is None


def test_reimport_updates_by_code(app):
    created, updated = import_grids(
        {"type": "FeatureCollection", "features": [square("JB-YZ", 29.60, 106.74, 0.06, level=2, parent="JB")]}
    )
    assert (created, updated) == (0, 1)
    assert cell("JB-YZ").max_lat == pytest.approx(29.66)


def test_cli_imports_a_file_and_refuses_a_bad_one(app, runner, tmp_path):
    good = tmp_path / "g.geojson"
    good.write_text(
        json.dumps(
            {"type": "FeatureCollection", "features": [square("NEW1", 29.70, 106.80, 0.01, level=3, parent="JB-WB")]}
        )
    )
    result = runner.invoke(args=["grids", "import", str(good)])
    assert result.exit_code == 0 and "1 created" in result.output
    assert find_grid(29.705, 106.805) == cell("NEW1").id
    bad = tmp_path / "b.geojson"
    bad.write_text("{not json")
    result = runner.invoke(args=["grids", "import", str(bad)])
    assert result.exit_code == 1


def test_routing_prefers_rules_then_category_default_then_grid_department(app):
    stall, manhole = category("E0504"), category("C0110")
    gyq, prop = cell("JB-GYQ").id, cell("JB-GYQ-02-P01").id
    # street vending has no category default: the grid's street office, or the property company inside its cell
    assert resolve_department(stall, gyq) == department_id("JB-S-GYQ")
    assert resolve_department(stall, prop) == department_id("JB-P-BCTJ")
    # a manhole cover belongs to the municipal facilities unit wherever it is
    assert resolve_department(manhole, prop) == department_id("JB-SZS")
    # a rule for (class E05, 观音桥 street) beats the property company's cell
    set_routing_rule(category("E05").id, gyq, department_id("JB-SQ-GYQ"))
    assert resolve_department(stall, prop) == department_id("JB-SQ-GYQ")
    # no category, no grid: the configured command centre
    assert resolve_department(None, None) == department_id("JB-CGJ")


def test_lookup_sees_grid_changes_made_by_another_process(app):
    assert find_grid(29.7005, 106.8005) == cell("JB-WB").id
    # another worker imports a new cell: only the shared version counter tells us
    import_grids({"type": "FeatureCollection", "features": [square("X1", 29.70, 106.80, 0.001, level=3)]})
    assert find_grid(29.7005, 106.8005) == cell("X1").id
    assert db.session.get(Department, department_id("JB-T-WB")) is not None
