"""Sign registration: codes, all-or-nothing import with line-numbered errors, idempotency, lookups for printing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app import geo
from app.extensions import db
from app.poi import signs as sign_service
from app.poi.models import Sign
from app.poi.signs import (
    CODE_ALPHABET,
    SignImportError,
    SignNotFound,
    new_sign_code,
    read_sign_csv,
    register_signs,
    signs_for,
)


def sign_count() -> int:
    return db.session.scalar(select(func.count(Sign.id)))


def test_codes_are_six_characters_of_the_unambiguous_alphabet(app):
    codes = {new_sign_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        assert len(code) == 6
        assert set(code) <= set(CODE_ALPHABET)
    assert not set("01OIL") & set(CODE_ALPHABET)


def test_a_code_already_taken_is_drawn_again(app, monkeypatch):
    register_signs([{"label": "观音桥", "lat": "29.5752", "lng": "106.5318", "external_id": "A"}])
    taken = db.session.scalar(select(Sign.code))
    draws = iter(taken + "XYZ234")  # first six draws repeat the taken code, the next six make a free one
    monkeypatch.setattr(sign_service.secrets, "choice", lambda alphabet: next(draws))
    assert new_sign_code() == "XYZ234"


def test_rows_are_registered_in_wgs84_with_the_raw_coordinates_kept(app):
    created, reused, signs = register_signs([
        {"label": "观音桥步行街东口", "lat": "29.5752", "lng": "106.5318", "external_id": "JB-1", "note": "东口"},
        {"label": "北城天街", "lat": "29.5775", "lng": "106.5330", "crs": "gcj02", "external_id": "JB-2"},
        {"label": "鎏嘉码头", "lat": "29.5740", "lng": "106.5850", "crs": "BD-09"},
    ])
    assert (created, reused) == (3, 0)
    wgs, gcj, bd = signs
    assert (wgs.lat, wgs.lng, wgs.raw_crs, wgs.note) == (29.5752, 106.5318, "wgs84", "东口")
    assert (gcj.raw_lat, gcj.raw_lng, gcj.raw_crs) == (29.5775, 106.5330, "gcj02")
    assert (gcj.lat, gcj.lng) == pytest.approx(geo.to_wgs84(29.5775, 106.5330, "gcj02"))
    assert geo.distance_m((gcj.lat, gcj.lng), (gcj.raw_lat, gcj.raw_lng)) > 100  # the GCJ-02 offset was removed
    assert bd.raw_crs == "bd09" and bd.external_id is None
    assert len({s.code for s in signs}) == 3


def test_importing_the_same_rows_twice_creates_nothing_new(app):
    rows = [
        {"label": "观音桥", "lat": "29.5752", "lng": "106.5318", "external_id": "JB-1"},
        {"label": "北城天街", "lat": "29.5775", "lng": "106.5330"},  # no external id: matched by label + point
    ]
    _, _, first = register_signs(rows)
    codes = [s.code for s in first]
    created, reused, again = register_signs(rows)
    assert (created, reused) == (0, 2)
    assert [s.code for s in again] == codes
    assert sign_count() == 2


def test_a_reused_sign_takes_the_rows_new_label_and_position(app):
    register_signs([{"label": "旧名", "lat": "29.5752", "lng": "106.5318", "external_id": "JB-1"}])
    created, reused, (sign,) = register_signs([{"label": "新名", "lat": "29.5760", "lng": "106.5320",
                                                "external_id": "JB-1"}])
    assert (created, reused) == (0, 1)
    assert (sign.label, sign.lat, sign.lng) == ("新名", 29.5760, 106.5320)


def test_every_bad_row_is_listed_with_its_line_and_nothing_is_registered(app):
    rows = [
        {"label": "好的一行", "lat": "29.5752", "lng": "106.5318", "external_id": "OK-1", "line": 2},
        {"label": "", "lat": "29.5752", "lng": "106.5318", "line": 3},
        {"label": "纬度不是数字", "lat": "北纬29", "lng": "106.5318", "line": 4},
        {"label": "纬度超范围", "lat": "129.5", "lng": "106.5318", "line": 5},
        {"label": "坐标系未知", "lat": "29.5752", "lng": "106.5318", "crs": "utm", "line": 6},
        {"label": "北京", "lat": "39.9", "lng": "116.4", "line": 7},
        {"label": "编号重复", "lat": "29.5752", "lng": "106.5318", "external_id": "OK-1", "line": 8},
        {"label": "长" * 101, "lat": "29.5752", "lng": "106.5318", "line": 9},
        {"label": "缺经度", "lat": "29.5752", "lng": "", "line": 10},
        {"label": "好的一行", "lat": "29.57520", "lng": "106.5318", "line": 11},
        {"label": "好的一行", "lat": "29.5752", "lng": "106.5318", "line": 12},  # same as line 11
    ]
    with pytest.raises(SignImportError) as caught:
        register_signs(rows)
    errors = dict(caught.value.errors)
    assert sorted(errors) == [3, 4, 5, 6, 7, 8, 9, 10, 12]
    assert "缺少名称" in errors[3]
    assert "必须是数字" in errors[4]
    assert "纬度 129.5 超出范围" in errors[5]
    assert "未知坐标系" in errors[6]
    assert "不在服务范围内" in errors[7]
    assert "与第 2 行重复" in errors[8]
    assert "超过 100" in errors[9]
    assert "必须是数字" in errors[10]
    assert "与第 11 行是同一个标识" in errors[12]
    assert "第 3 行" in str(caught.value)
    db.session.rollback()
    assert sign_count() == 0


def test_csv_text_is_read_with_line_numbers_bom_and_blank_lines(app):
    text = ("\ufefflabel,lat,lng,crs,external_id,note,extra\n"
            "观音桥,29.5752,106.5318,,JB-1,,x\n\n"
            "北城,29.5775,106.5330,gcj02,,,\n")
    rows = read_sign_csv(text)
    assert [r["line"] for r in rows] == [2, 4]
    assert rows[0]["label"] == "观音桥" and "extra" not in rows[0]
    assert rows[1]["crs"] == "gcj02"


def test_a_csv_without_the_required_columns_is_refused_on_line_one(app):
    with pytest.raises(SignImportError) as caught:
        read_sign_csv("name,latitude,lng\n观音桥,29.5,106.5\n")
    assert caught.value.errors == [(1, "表头缺少列：label, lat（需要 label,lat,lng）")]


def test_signs_for_picks_codes_case_insensitively_and_refuses_unknown_ones(app):
    _, _, signs = register_signs([{"label": f"点{i}", "lat": "29.5752", "lng": f"106.53{i}"} for i in range(3)])
    codes = sorted(s.code for s in signs)
    assert [s.code for s in signs_for(codes=[codes[1].lower(), f" {codes[0]} "])] == codes[:2]
    with pytest.raises(SignNotFound) as caught:
        signs_for(codes=[codes[0], "ZZZZZZ"])
    assert caught.value.codes == ["ZZZZZZ"]


def test_signs_for_lists_active_signs_and_only_new_leaves_out_printed_ones(app):
    _, _, signs = register_signs([{"label": f"点{i}", "lat": "29.5752", "lng": f"106.53{i}"} for i in range(3)])
    signs[2].active = False
    db.session.commit()
    codes = sorted(s.code for s in signs[:2])
    assert [s.code for s in signs_for()] == codes
    assert [s.code for s in signs_for(only_new=True, printed=[codes[0]])] == [codes[1]]
    assert signs_for(only_new=True, printed=codes) == []
