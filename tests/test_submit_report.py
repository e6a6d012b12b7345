"""submit_report: what it accepts, what it refuses (and writes nothing), routing, duplicates, double submits."""

import re

import pytest
from sqlalchemy import func, select

from app import geo
from app.events import OutboxEvent
from app.extensions import db
from app.reports.models import DuplicateCandidate, Report, ReportEvent
from app.reports.services import (
    InvalidReport,
    OutsideServiceArea,
    PhotoInput,
    Submission,
    UnknownCategory,
    submit_report,
)
from tests.factories import GUANYINQIAO, citizen, department_id, report


def count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def test_a_report_gets_a_readable_case_number_route_trail_and_event(app):
    r = report("路口有人摆摊卖水果", category_code="E0504")
    assert re.fullmatch(r"JB\d{6}\d{4}", r.case_number)
    assert r.status == "reported" and r.channel == "wechat"
    assert r.department_id == department_id("JB-S-GYQ")
    assert r.grid.code.startswith("JB-GYQ")
    assert [(e.seq, e.action, e.to_status) for e in r.trail] == [(1, "submit", "reported")]
    evt = db.session.scalar(select(OutboxEvent).where(OutboxEvent.name == "ReportSubmitted"))
    assert evt.payload["report_id"] == r.id and evt.payload["case_number"] == r.case_number


def test_case_numbers_count_up_within_a_day(app):
    a, b = report(), report(lat=29.60)
    assert int(b.case_number[-4:]) == int(a.case_number[-4:]) + 1
    assert a.case_number[:8] == b.case_number[:8]


def test_wechat_gcj02_coordinates_are_stored_as_wgs84_with_the_raw_values(app):
    glat, glng = geo.wgs84_to_gcj02(*GUANYINQIAO)
    r = report(lat=glat, lng=glng, crs="gcj02")
    assert (r.raw_lat, r.raw_lng, r.raw_crs) == (glat, glng, "gcj02")
    assert geo.distance_m((r.lat, r.lng), GUANYINQIAO) < 0.05


def test_a_photo_without_words_is_a_valid_report(app):
    r = report("", photos=[PhotoInput(source_ref="wechat:MEDIA1")])
    assert r.description == "" and [p.status for p in r.photos] == ["pending"]


BAD_INPUT = [
    # (what the channel sent, the error, words the message must contain)
    ({"lat": 95, "lng": 106.5}, InvalidReport, "纬度"),
    ({"lat": 29.6, "lng": 200}, InvalidReport, "经度"),
    ({"lat": float("nan"), "lng": 106.5}, InvalidReport, "NaN"),
    ({"lat": "abc", "lng": 106.5}, InvalidReport, "数字"),
    ({"lat": 39.9, "lng": 116.4}, OutsideServiceArea, "服务范围"),  # Beijing
    ({"description": ""}, InvalidReport, "照片或一句问题描述"),
    ({"description": "   "}, InvalidReport, "照片或一句问题描述"),
    ({"description": "很" * 1001}, InvalidReport, "太长"),
    ({"category_code": "X9999"}, UnknownCategory, "X9999"),
    ({"crs": "epsg:3857"}, InvalidReport, "坐标系"),
    ({"channel": "fax"}, InvalidReport, "渠道"),
]


@pytest.mark.parametrize(("override", "error", "words"), BAD_INPUT)
def test_bad_input_gets_a_specific_error_and_writes_nothing(app, override, error, words):
    c = citizen()
    fields = {
        "channel": "wechat",
        "lat": GUANYINQIAO[0],
        "lng": GUANYINQIAO[1],
        "description": "摆摊",
        "citizen_id": c.id,
    } | override
    before = (count(Report), count(ReportEvent), count(OutboxEvent))
    with pytest.raises(error) as err:
        submit_report(Submission(**fields))
    assert words in err.value.message
    assert (count(Report), count(ReportEvent), count(OutboxEvent)) == before


def test_a_double_submit_with_the_same_client_ref_returns_the_first_case(app):
    c = citizen()
    a = report(client_ref="wechat:draft:abc", citizen_id=c.id)
    b = report(client_ref="wechat:draft:abc", citizen_id=c.id)
    assert a.id == b.id and count(Report) == 1 and count(OutboxEvent) == 1


def test_likely_duplicates_are_linked_as_candidates_not_cancelled(app):
    first = report("门口摆摊卖菜", category_code="E0504")
    near = report("又有人摆摊", category_code="E0501", lat=GUANYINQIAO[0] + 0.0002)  # ~22 m, same class E05
    far = report("摆摊", category_code="E0504", lat=GUANYINQIAO[0] + 0.001)  # ~110 m
    other_class = report("井盖没了", category_code="C0110", lat=GUANYINQIAO[0] + 0.0001)
    links = {(d.report_id, d.candidate_id) for d in db.session.scalars(select(DuplicateCandidate))}
    assert (near.id, first.id) in links
    assert not any(rid == far.id for rid, _ in links)
    assert not any(rid == other_class.id for rid, _ in links)
    assert first.status == near.status == "reported"
    dist = db.session.scalar(select(DuplicateCandidate.distance_m).where(DuplicateCandidate.report_id == near.id))
    assert 15 < dist < 30


def test_closed_and_old_cases_are_not_duplicate_candidates(app):
    from datetime import timedelta

    old = report("摆摊", category_code="E0504")
    old.submitted_at = old.submitted_at - timedelta(days=8)
    db.session.commit()
    fresh = report("摆摊", category_code="E0504")
    assert (
        db.session.scalar(
            select(func.count()).select_from(DuplicateCandidate).where(DuplicateCandidate.report_id == fresh.id)
        )
        == 0
    )


def test_address_is_trimmed_to_its_column(app):
    r = report(address="重庆市江北区" * 50)
    assert len(r.address) == 200
