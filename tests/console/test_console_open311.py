"""Open311 GeoReport v2: discovery, services, definitions, POST (and every refusal), GET with every filter, tokens,
XML, the media_url job, and the independent `georeport` client against the running server."""

import http.server
import threading
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from georeport import GeoReport
from sqlalchemy import func, select

from app.events import OutboxEvent, utcnow
from app.extensions import db
from app.reports import open311
from app.reports.models import Report, ReportPhoto
from app.reports.services import transition
from tests.factories import GUANYINQIAO, actor, citizen, jpeg_bytes, report

KEY = "key-for-the-city-platform"
V2 = "/open311/v2"


@pytest.fixture(autouse=True)
def open311_settings(app):
    app.config["OPEN311_API_KEYS"] = [KEY]
    app.config["OPEN311_MEDIA_HOSTS"] = ["photos.example.org"]


def form(**overrides):
    data = {"api_key": KEY, "service_code": "E0504", "lat": str(GUANYINQIAO[0]), "long": str(GUANYINQIAO[1]),
            "description": "路口有人摆摊卖水果", "email": "someone@example.org", "phone": "13800000000",
            "first_name": "三", "last_name": "张"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def written():
    return (db.session.scalar(select(func.count()).select_from(Report)),
            db.session.scalar(select(func.count()).select_from(OutboxEvent)))


def test_discovery_names_the_endpoint_and_formats(client):
    body = client.get(f"{V2}/discovery.json").get_json()
    [endpoint] = body["endpoints"]
    assert endpoint["url"].endswith("/open311/v2") and endpoint["formats"] == ["application/json", "text/xml"]
    xml = ET.fromstring(client.get(f"{V2}/discovery.xml").data)
    assert xml.tag == "discovery" and xml.find("endpoints/endpoint/formats/format").text == "application/json"


def test_services_are_the_category_subclasses_grouped_by_class(client):
    services = client.get(f"{V2}/services.json").get_json()
    stall = next(s for s in services if s["service_code"] == "E0504")
    assert stall["group"] == "街面秩序" and stall["metadata"] is False and stall["type"] == "realtime"
    assert all(len(s["service_code"]) == 5 for s in services)
    xml = ET.fromstring(client.get(f"{V2}/services.xml").data)
    assert xml.tag == "services" and len(xml.findall("service")) == len(services)
    definition = client.get(f"{V2}/services/E0504.json").get_json()
    assert definition == {"service_code": "E0504", "attributes": []}
    assert ET.fromstring(client.get(f"{V2}/services/E0504.xml").data).tag == "service_definition"


@pytest.mark.parametrize("path", ["/services/E9999.json", "/services/E05.json", "/requests/JB0000000000.json",
                                  "/tokens/nope.json", "/services.csv", "/nothing.json"])
def test_unknown_things_are_404_in_the_spec_format(client, path):
    response = client.get(V2 + path)
    body = response.get_json()
    assert response.status_code == 404 and body[0]["code"] == 404 and body[0]["description"]


def test_errors_come_as_xml_on_xml_endpoints(client):
    response = client.get(f"{V2}/requests/JB0000000000.xml")
    xml = ET.fromstring(response.data)
    assert response.status_code == 404 and xml.tag == "errors" and xml.find("error/code").text == "404"


def test_a_post_creates_a_case_through_submit_report_without_storing_personal_fields(client):
    response = client.post(f"{V2}/requests.json", data=form(address_string="观音桥步行街"))
    assert response.status_code == 201, response.get_data(as_text=True)
    [answer] = response.get_json()
    r = db.session.scalar(select(Report))
    assert answer["service_request_id"] == r.case_number and answer["token"]
    assert r.channel == "open311" and r.category.code == "E0504" and r.citizen_id is None
    assert r.address == "观音桥步行街" and r.status == "reported"
    assert "13800000000" not in repr(r.__dict__) and "someone@example.org" not in repr(r.__dict__)
    token = client.get(f"{V2}/tokens/{answer['token']}.json").get_json()
    assert token == [{"service_request_id": r.case_number, "token": answer["token"]}]


def test_a_post_in_xml_answers_in_xml(client):
    response = client.post(f"{V2}/requests.xml", data=form())
    xml = ET.fromstring(response.data)
    assert response.status_code == 201 and xml.tag == "service_requests"
    assert xml.find("request/service_request_id").text.startswith("JB")


BAD_POSTS = [
    ({"api_key": None}, 403, "api_key is required"),
    ({"api_key": "wrong"}, 403, "api_key is not valid"),
    ({"service_code": None}, 400, "service_code is required"),
    ({"service_code": "E9999"}, 404, "not found"),
    ({"lat": None, "long": None}, 400, "location is required"),
    ({"long": None}, 400, "together"),
    ({"lat": "north"}, 400, "numbers"),
    ({"lat": "95"}, 400, "纬度"),
    ({"lat": "39.9", "long": "116.4"}, 400, "服务范围"),
    ({"description": "占" * 4001}, 400, "at most 4000"),
]


@pytest.mark.parametrize(("changes", "status", "words"), BAD_POSTS)
def test_a_bad_post_gets_the_right_status_and_writes_nothing(client, changes, status, words):
    before = written()
    response = client.post(f"{V2}/requests.json", data=form(**changes))
    body = response.get_json()
    assert response.status_code == status and body[0]["code"] == status and words in body[0]["description"], body
    assert written() == before


@pytest.mark.parametrize(("url", "words"), [
    ("http://127.0.0.1/x.jpg", "internal address"),
    ("http://[::1]/x.jpg", "internal address"),
    ("http://10.0.0.8/x.jpg", "internal address"),
    ("http://evil.example.net/x.jpg", "allow-list"),
    ("https://www.fixmystreet.com/photo/123.full.jpeg", "allow-list"),  # FixMyStreet's own host, not allowed
    ("ftp://photos.example.org/x.jpg", "http or https"),
    ("http://user:pw@photos.example.org/x.jpg", "credentials"),
    ("http://photos.example.org/" + "x" * 200 + ".jpg", "too long"),
])
def test_a_media_url_that_may_not_be_fetched_keeps_the_case_and_records_the_photo_as_not_fetched(client, url,
                                                                                                 words):
    response = client.post(f"{V2}/requests.json", data=form(media_url=url))
    assert response.status_code == 201, response.get_data(as_text=True)
    [answer] = response.get_json()
    assert "照片未能获取" in answer["service_notice"]
    photo = db.session.scalar(select(ReportPhoto))
    assert photo.status == "missing" and words in photo.missing_reason and photo.sha256 is None
    assert db.session.scalar(select(Report)).case_number == answer["service_request_id"]


def test_the_jobs_second_check_refuses_an_allow_listed_host_that_resolves_inside(client, app, run_jobs):
    """OPEN311_MEDIA_HOSTS names localhost (a host name: the POST cannot know where it points); the job resolves it,
    finds 127.0.0.1 and records the photo as not fetched; no connection reaches the server listening there."""
    server = _CountingServer(("127.0.0.1", 0), _ImageHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        app.config["OPEN311_MEDIA_HOSTS"] = ["localhost"]
        url = f"http://localhost:{server.server_port}/ok.jpg"
        assert client.post(f"{V2}/requests.json", data=form(media_url=url)).status_code == 201
        run_jobs()
        db.session.expire_all()
        photo = db.session.scalar(select(ReportPhoto))
        assert photo.status == "missing" and "internal address" in photo.missing_reason
        assert server.connections == 0
    finally:
        server.shutdown()
        server.server_close()


def test_get_requests_filters_by_id_code_status_and_dates(client):
    stall = report("路口有人摆摊", category_code="E0504")
    ads = report("墙上小广告", category_code="E0201")
    old = report("井盖没了", lat=29.60, category_code="E0504")
    old.submitted_at = utcnow() - timedelta(days=120)
    db.session.commit()
    for action, kw in [("register", {}), ("cancel", {"cancel_reason": "invalid"})]:
        transition(ads.id, action, actor("dispatcher"), **kw)

    def ids(**params):
        response = client.get(f"{V2}/requests.json", query_string=params)
        assert response.status_code == 200, response.get_data(as_text=True)
        return [r["service_request_id"] for r in response.get_json()]

    assert set(ids()) == {stall.case_number, ads.case_number}  # the last 90 days by default
    assert ids(service_code="E0504") == [stall.case_number]
    assert set(ids(service_code="E0504,E0201")) == {stall.case_number, ads.case_number}
    assert ids(status="closed") == [ads.case_number]
    assert ids(status="open") == [stall.case_number]
    assert set(ids(status="open,closed")) == {stall.case_number, ads.case_number}
    start = (utcnow() - timedelta(days=130)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (utcnow() - timedelta(days=100)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert ids(start_date=start, end_date=end) == [old.case_number]
    assert ids(start_date=start) == [old.case_number]  # start alone: the 90 days after it
    assert ids(end_date=end) == [old.case_number]  # end alone: the 90 days before it
    assert ids(service_request_id=f"{old.case_number},{ads.case_number}", status="open") == [
        ads.case_number, old.case_number]  # the id list overrides the other filters
    assert ids(service_code="", status="") == ids()  # empty means absent
    assert len(ids(page_size=1)) == 1 and ids(page_size=1, page=2) != ids(page_size=1)
    closed = client.get(f"{V2}/requests.json", query_string={"status": "closed"}).get_json()[0]
    assert closed["status_notes"] == "已注销：无效举报"


@pytest.mark.parametrize(("params", "words"), [
    ({"start_date": "last week"}, "ISO 8601"),
    ({"start_date": "2026-01-01T00:00:00"}, "timezone"),
    ({"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}, "90 days"),
    ({"start_date": "2026-06-01T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"}, "before"),
    ({"status": "pending"}, "open, closed"),
    ({"page_size": "5000"}, "page_size"),
])
def test_bad_get_parameters_are_400(client, params, words):
    response = client.get(f"{V2}/requests.json", query_string=params)
    assert response.status_code == 400 and words in response.get_json()[0]["description"]


def test_a_request_is_open_or_closed_with_our_state_in_the_notes_and_no_identity(client):
    person = citizen("oSecretOpenid123")
    r = report("路口有人摆摊", category_code="E0504", citizen_id=person.id)
    transition(r.id, "register", actor("dispatcher"))
    transition(r.id, "dispatch", actor("dispatcher"), department_code="JB-S-GYQ")
    response = client.get(f"{V2}/requests/{r.case_number}.json")
    [body] = response.get_json()
    assert body["status"] == "open" and body["status_notes"] == "已派遣"
    assert body["agency_responsible"] == "观音桥街道" and body["service_code"] == "E0504"
    assert body["requested_datetime"].endswith("Z") and body["expected_datetime"].endswith("Z")
    assert isinstance(body["lat"], float) and isinstance(body["long"], float)
    assert "oSecretOpenid123" not in response.get_data(as_text=True)
    xml = client.get(f"{V2}/requests/{r.case_number}.xml").get_data(as_text=True)
    assert "<status>open</status>" in xml and "oSecretOpenid123" not in xml


class _ImageHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/moved"):
            self.send_response(302)
            self.send_header("Location", "http://10.0.0.1/secret" if self.path == "/moved.jpg" else "/ok.jpg")
            self.end_headers()
            return
        body = jpeg_bytes() if self.path == "/ok.jpg" else b"<html>not an image</html>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _CountingServer(http.server.ThreadingHTTPServer):
    connections = 0

    def verify_request(self, request, client_address):
        self.connections += 1
        return True


@pytest.fixture
def image_server(app):
    """A photo host on 127.0.0.1, allow-listed, its network allowed by the operator (FETCH_ALLOWED_NETWORKS)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ImageHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    app.config["OPEN311_MEDIA_HOSTS"] = ["127.0.0.1"]
    app.config["FETCH_ALLOWED_NETWORKS"] = ["127.0.0.1/32"]
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("path", "status", "reason"), [
    ("/ok.jpg", "stored", None),
    ("/moved-here.jpg", "stored", None),  # a redirect is followed once it passes the same checks
    ("/moved.jpg", "missing", "internal address"),
    ("/page.html", "missing", "不是一张能打开的图片"),
])
def test_media_url_is_fetched_by_a_job_with_the_usual_checks(client, run_jobs, image_server, path, status, reason):
    url = image_server + path
    response = client.post(f"{V2}/requests.json", data=form(media_url=url))
    assert response.status_code == 201, response.get_data(as_text=True)
    run_jobs()
    db.session.expire_all()
    photo = db.session.scalar(select(ReportPhoto))
    assert photo.source_ref == f"url:{url}" and photo.status == status
    assert (reason is None and len(photo.sha256) == 64) or reason in photo.missing_reason
    photo_id = photo.id
    db.session.commit()  # the job has its own session; on SQLite ours must not hold the write lock
    assert open311.fetch_media_url(photo_id) == "nothing to do"  # a second run changes nothing


def test_the_georeport_client_reads_everything_from_the_running_server(app, live_server):
    number = report("路口有人摆摊", category_code="E0504").case_number
    db.session.commit()  # read nothing from the database after this: on SQLite a read would take the write lock
    for fmt in ("json", "xml"):
        api = GeoReport(f"{live_server}/open311/v2", output_format=fmt)
        services = api.get_service_list()
        assert any(s["service_code"] == "E0504" for s in services)
        assert api.get_service_definition("E0504")["service_code"] == "E0504"
        listed = api.get_service_requests(service_code="E0504", status="open")
        listed = [listed] if isinstance(listed, dict) else listed  # xmltodict gives a dict for a single element
        assert [x["service_request_id"] for x in listed] == [number]
        one = api.get_service_request(number)
        assert one["service_request_id"] == number and one["status"] == "open"
