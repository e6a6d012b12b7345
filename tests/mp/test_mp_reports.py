"""POST/GET /api/mp/reports: multipart with photos and an Idempotency-Key, the citizen view, clear JSON errors."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from app.extensions import db
from app.reports.models import Report, ReportPhoto
from app.reports.services import transition
from tests.factories import actor, jpeg_bytes, png_bytes
from tests.mp.conftest import GUANYINQIAO_GCJ, MiniProgram


def cases() -> int:
    return db.session.scalar(select(func.count()).select_from(Report))


def test_a_report_with_photos_is_one_case_in_gcj02_through_submit_report(app, mini):
    phone = mini()
    res = phone.report(photos=[jpeg_bytes(color=(10, 20, 30)), png_bytes()], category_code="E0504")
    assert res.status_code == 201, res.get_json()
    number = res.get_json()["case_number"]
    report = db.session.scalar(select(Report).where(Report.case_number == number))
    assert report.channel == "miniprogram" and report.raw_crs == "gcj02" and report.category.code == "E0504"
    assert (report.raw_lat, report.raw_lng) == GUANYINQIAO_GCJ and report.lat != report.raw_lat  # stored as WGS-84
    assert [p.status for p in report.photos] == ["stored", "stored"]


def test_a_replay_with_the_same_key_is_the_same_case_and_stores_nothing_new(app, mini):
    phone = mini()
    first = phone.report(photos=[jpeg_bytes()], key="retry-key-0001")
    again = phone.report(photos=[jpeg_bytes(color=(1, 2, 3))], key="retry-key-0001", description="另一段话")
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json() and again.headers["Idempotent-Replayed"] == "true"
    assert cases() == 1 and db.session.scalar(select(func.count()).select_from(ReportPhoto)) == 1


def test_another_citizen_using_the_same_key_gets_their_own_case(app, mini):
    a, b = mini(), mini()
    ra, rb = a.report(key="shared-key-0001"), b.report(key="shared-key-0001")
    assert ra.get_json()["case_number"] != rb.get_json()["case_number"] and cases() == 2


def test_parallel_double_taps_make_one_case(app, fake_wechat, mini):
    phone = mini()
    db.session.commit()
    numbers, lock = [], threading.Lock()

    def tap():
        own = MiniProgram(app.test_client(), fake_wechat, phone.mp_openid)
        own.token = phone.token
        res = own.report(key="double-tap-0001")
        with lock:
            numbers.append((res.status_code, res.get_json().get("case_number")))

    threads = [threading.Thread(target=tap) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {s for s, _ in numbers} == {201} and len({n for _, n in numbers}) == 1
    assert cases() == 1


@pytest.mark.parametrize("key", [None, "short", "bad key with spaces", "x" * 101])
def test_a_report_without_a_proper_idempotency_key_is_400(app, mini, key):
    phone = mini()
    res = phone.client.post("/api/mp/reports", data={"lat": "29.57", "lng": "106.53"},
                            headers=phone.headers(**({"Idempotency-Key": key} if key else {})))
    assert res.status_code == 400 and cases() == 0


def test_a_photo_that_is_not_an_image_is_400_with_the_reason_and_nothing_is_saved(app, mini):
    res = mini().report(photos=[jpeg_bytes(), b"<?php system($_GET['c']); ?>"])
    assert res.status_code == 400
    body = res.get_json()
    assert body["error"] == "photo_refused" and body["reason"] == "not_an_image" and "图片" in body["message"]
    assert cases() == 0


def test_too_many_photos_or_a_too_large_one_is_413_and_nothing_is_saved(app, mini):
    phone = mini()
    res = phone.report(photos=[jpeg_bytes(size=(32, 32), color=(i, i, i)) for i in range(10)])
    assert res.status_code == 413 and "9" in res.get_json()["message"]
    app.config["MEDIA_MAX_BYTES"] = 2000
    res = phone.report(photos=[jpeg_bytes(size=(800, 800))])
    assert res.status_code == 413 and res.get_json()["error"] == "photo_refused"
    app.config["REPORT_UPLOAD_MAX_BYTES"] = 10_000
    res = phone.report(photos=[b"\xff" * 20_000])
    assert res.status_code == 413 and res.is_json
    assert cases() == 0 and not list(Path(app.config["MEDIA_ROOT"]).glob("**/*.jpg"))


def test_a_location_outside_the_service_area_is_422_with_the_plain_reason(app, mini):
    res = mini().report(lat=39.9042, lng=116.4074, photos=[jpeg_bytes()])  # Beijing
    assert res.status_code == 422 and res.get_json()["message"] == "这个位置不在本平台的服务范围内"
    assert cases() == 0 and not list(Path(app.config["MEDIA_ROOT"]).glob("**/*.jpg"))


@pytest.mark.parametrize(("fields", "status"), [({"lat": "abc"}, 400), ({"lat": ""}, 400), ({"crs": "utm50n"}, 400),
                                                ({"category_code": "NOPE"}, 400), ({"description": "x" * 1001}, 400),
                                                ({"description": ""}, 400)])
def test_bad_fields_are_400_with_the_reason(app, mini, fields, status):
    res = mini().report(**fields)
    assert res.status_code == status and res.get_json()["message"] and cases() == 0


def test_photos_lose_their_exif(app, mini):
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"
    res = mini().report(photos=[jpeg_bytes(exif=exif.tobytes())])
    photo = db.session.scalar(select(ReportPhoto))
    from app.media import path_for

    assert res.status_code == 201 and b"SecretCam" not in path_for(photo.sha256).read_bytes()


def test_the_citizen_lists_and_reads_their_cases_through_the_citizen_view(app, mini):
    phone = mini()
    number = phone.report(photos=[jpeg_bytes()], category_code="E0504").get_json()["case_number"]
    report = db.session.scalar(select(Report).where(Report.case_number == number))
    transition(report.id, "register", actor("dispatcher"), note="内部备注：先别告诉市民")
    listed = phone.get("/api/mp/reports").get_json()["reports"]
    assert [c["case_number"] for c in listed] == [number] and listed[0]["status"] == "registered"
    detail = phone.get(f"/api/mp/reports/{number}").get_json()["report"]
    assert [s["label"] for s in detail["steps"]] == ["提交举报", "已立案"]
    assert "内部备注" not in str(detail)
    photo = detail["photos"][0]
    res = phone.get(photo["thumb_url"])
    assert res.status_code == 200 and res.mimetype == "image/jpeg"


def test_another_citizens_case_and_its_photos_do_not_exist_for_you(app, mini):
    owner, stranger = mini(), mini()
    number = owner.report(photos=[jpeg_bytes()]).get_json()["case_number"]
    photo_url = owner.get(f"/api/mp/reports/{number}").get_json()["report"]["photos"][0]["url"]
    assert stranger.get(f"/api/mp/reports/{number}").status_code == 404
    assert stranger.get(photo_url).status_code == 404
    assert stranger.get("/api/mp/reports").get_json()["reports"] == []
    assert owner.get(f"/api/mp/reports/{number}/photos/999999").status_code == 404
    assert owner.get(photo_url + "?variant=../../etc").status_code == 404


def test_points_rewards_and_a_redemption_with_an_idempotency_key(app, mini):
    from app.points.rewards import create_reward
    from app.points.services import grant_points

    phone = mini()
    citizen_id = _citizen_id(phone)
    grant_points(citizen_id, 30, "测试积分", actor="test")
    reward_id = create_reward("环保购物袋", 10, 5, None).id
    assert phone.get("/api/mp/points").get_json()["balance"] == 30
    assert [r["id"] for r in phone.get("/api/mp/rewards").get_json()["rewards"]] == [reward_id]
    key = uuid.uuid4().hex
    first = phone.client.post("/api/mp/redemptions", json={"reward_id": reward_id},
                              headers=phone.headers(**{"Idempotency-Key": key}))
    again = phone.client.post("/api/mp/redemptions", json={"reward_id": reward_id},
                              headers=phone.headers(**{"Idempotency-Key": key}))
    assert first.status_code == again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert first.get_json()["redemption"]["code"] == again.get_json()["redemption"]["code"]
    assert phone.get("/api/mp/points").get_json()["balance"] == 20
    poor = phone.client.post("/api/mp/redemptions", json={"reward_id": 10**6},
                             headers=phone.headers(**{"Idempotency-Key": uuid.uuid4().hex}))
    assert poor.status_code == 404 and poor.get_json()["error"] == "reward_not_found"
    assert phone.client.post("/api/mp/redemptions", json={"reward_id": reward_id},
                             headers=phone.headers()).status_code == 400


def _citizen_id(phone) -> int:
    from app.citizens.models import Citizen

    return db.session.scalar(select(Citizen.id).where(Citizen.mp_openid == phone.mp_openid))


def test_nearby_answers_in_gcj02_for_wx_open_location(app, demo, mini):
    phone = mini()
    res = phone.get("/api/mp/nearby", query_string={"lat": GUANYINQIAO_GCJ[0], "lng": GUANYINQIAO_GCJ[1]})
    body = res.get_json()
    assert res.status_code == 200 and body["crs"] == "gcj02" and body["results"]
    distances = [r["distance_m"] for r in body["results"]]
    assert distances == sorted(distances) and all(r["crs"] == "gcj02" for r in body["results"])
    assert phone.get("/api/mp/nearby", query_string={"lat": "x", "lng": "1"}).status_code == 400
