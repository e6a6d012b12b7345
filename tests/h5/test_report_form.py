"""The H5 report form (/report) and 「我的举报」 (/me/cases): sign-in inside WeChat, anonymous reports outside it."""

from __future__ import annotations

import io
import re
import uuid
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.reports.citizen_view import citizen_view
from app.reports.models import Report
from app.reports.services import transition
from tests.factories import actor, jpeg_bytes
from tests.h5.conftest import WECHAT_UA

SPOT = ("29.575200", "106.531800")  # WGS-84, 观音桥


def csrf(client, path="/report", **kw) -> str:
    html = client.get(path, **kw).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def post_report(client, key=None, photos=(), headers=None, **fields):
    headers = {"Accept": "application/json", **(headers or {})}
    data = {"csrf_token": csrf(client, headers=headers), "idempotency_key": key or uuid.uuid4().hex,
            "lat": SPOT[0], "lng": SPOT[1], "crs": "wgs84", "description": "井盖没了，很危险", **fields,
            "photo": [(io.BytesIO(p), f"p{i}.jpg") for i, p in enumerate(photos)]}
    return client.post("/report", data=data, headers=headers, content_type="multipart/form-data")


def cases() -> int:
    return db.session.scalar(select(func.count()).select_from(Report))


def sign_in_through_wechat(client, fake_wechat, openid="oH5Citizen01", next_path="/report"):
    res = client.get(f"/h5/login?next={next_path}")
    query = parse_qs(urlparse(res.headers["Location"]).query)
    assert query["scope"] == ["snsapi_base"]
    code = fake_wechat.add_oauth_code(openid)
    back = client.get(f"/h5/oauth/callback?code={code}&state={query['state'][0]}")
    assert back.status_code == 302 and back.headers["Location"] == next_path


def test_outside_wechat_an_anonymous_report_with_a_private_phone_becomes_an_h5_case(app, client):
    res = post_report(client, photos=[jpeg_bytes()], phone="138 0013 8000")
    assert res.status_code == 201, res.get_json()
    body = res.get_json()
    report = db.session.scalar(select(Report).where(Report.case_number == body["case_number"]))
    assert report.channel == "h5" and report.citizen_id is None and report.contact_phone == "138 0013 8000"
    assert [p.status for p in report.photos] == ["stored"]
    assert body["public_url"] == f"/cases/{report.case_number}"
    done = client.get(body["url"]).get_data(as_text=True)
    assert report.case_number in done and body["public_url"] in done
    transition(report.id, "register", actor("dispatcher"))
    assert "13800138000" not in client.get(body["public_url"]).get_data(as_text=True).replace(" ", "")
    view = str(citizen_view(report, "reporter"))  # (a bare "138" can be a timestamp's microseconds)
    assert "138 0013 8000" not in view and "13800138000" not in view


def test_a_double_submit_or_reload_with_the_pages_key_is_one_case(app, client):
    first = post_report(client, key="page-key-000001", photos=[jpeg_bytes()])
    again = post_report(client, key="page-key-000001", photos=[jpeg_bytes()])
    assert first.get_json()["case_number"] == again.get_json()["case_number"] and cases() == 1


def test_anonymous_reports_are_limited_per_client_and_a_replay_does_not_count(app, client):
    app.config["H5_ANONYMOUS_RATE_LIMIT"] = 2
    assert post_report(client, key="anon-key-000001").status_code == 201
    assert post_report(client, key="anon-key-000001").status_code == 201  # replay
    assert post_report(client, key="anon-key-000002").status_code == 201
    res = post_report(client, key="anon-key-000003")
    assert res.status_code == 429 and res.get_json()["error"] == "too_many_reports" and cases() == 2


def test_when_the_city_turns_anonymous_reports_off_outside_wechat_is_refused(app, client):
    app.config["H5_ANONYMOUS_REPORTS"] = False
    assert client.get("/report").status_code == 403
    res = client.post("/report", data={"idempotency_key": "x" * 10}, headers={"Accept": "application/json"})
    assert res.status_code in (400, 401) and cases() == 0  # CSRF (400) or sign-in (401): nothing saved


@pytest.mark.parametrize(("fields", "status", "error"), [
    ({"lat": "39.9042", "lng": "116.4074"}, 422, "outside_service_area"),
    ({"lat": ""}, 400, "invalid_report"),
    ({"phone": "call me maybe"}, 400, "invalid_phone"),
    ({"idempotency_key": "short"}, 400, "invalid_request"),
    ({"description": "", "photo_bytes": b"not an image"}, 400, "photo_refused"),
])
def test_bad_input_gets_a_clear_answer_and_nothing_is_saved(app, client, fields, status, error):
    photo = fields.pop("photo_bytes", None)
    res = post_report(client, photos=[photo] if photo else (), **fields)
    assert res.status_code == status and res.get_json()["error"] == error and res.get_json()["message"]
    assert cases() == 0


def test_the_form_takes_photos_beyond_the_global_body_limit_up_to_its_own(app, client):
    app.config.update(MAX_CONTENT_LENGTH=20_000, REPORT_UPLOAD_MAX_BYTES=2_000_000)
    big = jpeg_bytes(size=(900, 900), color=(10, 200, 30))  # two of them: more than 20 000 bytes
    res = post_report(client, photos=[big, jpeg_bytes(size=(900, 900), color=(200, 10, 30))])
    assert res.status_code == 201, res.get_json()
    app.config["REPORT_UPLOAD_MAX_BYTES"] = 10_000
    assert post_report(client, photos=[big]).status_code == 413


def test_ten_photos_are_413(app, client):
    res = post_report(client, photos=[jpeg_bytes(size=(16, 16), color=(i, 0, 0)) for i in range(10)])
    assert res.status_code == 413 and cases() == 0


def test_inside_wechat_the_form_signs_the_citizen_in_and_the_case_is_theirs(app, client, fake_wechat):
    res = client.get("/report?sign=DEMO01", headers={"User-Agent": WECHAT_UA})
    assert res.status_code == 302 and res.headers["Location"].startswith("/h5/login?next=/report")
    sign_in_through_wechat(client, fake_wechat)
    html = client.get("/report", headers={"User-Agent": WECHAT_UA}).get_data(as_text=True)
    assert "jweixin-1.6.0.js" in html and 'name="phone"' not in html
    res = post_report(client, headers={"User-Agent": WECHAT_UA}, crs="gcj02", lat="29.5724", lng="106.53556",
                      phone="13800138000")
    report = db.session.scalar(select(Report).where(Report.case_number == res.get_json()["case_number"]))
    assert report.citizen_id is not None and report.raw_crs == "gcj02" and report.contact_phone is None


def test_an_anonymous_post_from_inside_wechat_must_sign_in_first(app, client):
    token = csrf(client)  # the form, fetched outside WeChat
    res = client.post("/report", data={"csrf_token": token, "idempotency_key": uuid.uuid4().hex, "lat": SPOT[0],
                                       "lng": SPOT[1], "description": "井盖没了"},
                      headers={"User-Agent": WECHAT_UA, "Accept": "application/json"})
    assert res.status_code == 401 and cases() == 0


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:1"])
def test_the_login_never_sends_the_citizen_to_another_site(client, fake_wechat, target):
    res = client.get("/h5/login", query_string={"next": target})
    state = parse_qs(urlparse(res.headers["Location"]).query)["state"][0]
    back = client.get(f"/h5/oauth/callback?code={fake_wechat.add_oauth_code('oX')}&state={state}")
    assert back.headers["Location"] == "/report"


def test_my_cases_show_the_citizen_view_with_photos_and_nobody_elses(app, client, fake_wechat):
    assert client.get("/me/cases").status_code == 302
    sign_in_through_wechat(client, fake_wechat, next_path="/me/cases")
    number = post_report(client, photos=[jpeg_bytes()]).get_json()["case_number"]
    report = db.session.scalar(select(Report).where(Report.case_number == number))
    transition(report.id, "register", actor("dispatcher"), note="内部：先查清楚")
    html = client.get("/me/cases").get_data(as_text=True)
    assert number in html and "已立案" in html and "内部" not in html and "/points/" in html
    photo_url = re.search(r'src="(/me/cases/[^"]+)"', html).group(1)
    assert client.get(photo_url).status_code == 200
    other = app.test_client()
    sign_in_through_wechat(other, fake_wechat, openid="oSomeoneElse01", next_path="/me/cases")
    assert number not in other.get("/me/cases").get_data(as_text=True)
    assert other.get(photo_url).status_code == 404


def test_the_description_gets_the_bots_category_suggestions(client):
    from app.reports.categories import suggest_category

    res = client.get("/api/report/suggest", query_string={"text": "人行道井盖没了"}).get_json()
    assert [s["code"] for s in res["suggestions"]] == [s.code for s in suggest_category("人行道井盖没了")]
    assert res["suggestions"]


def test_every_sign_page_links_to_the_form_with_its_sign(client, demo):
    html = client.get("/s/DEMO01").get_data(as_text=True)
    assert 'href="/report?sign=DEMO01"' in html
    form = client.get("/report?sign=DEMO01").get_data(as_text=True)
    assert "我在标牌旁" in form and "data-sign-lat" in form
