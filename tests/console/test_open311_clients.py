"""Open311 as real clients use it: FixMyStreet's request shapes (perllib/Open311.pm: send_service_request,
get_service_request_updates, post_service_request_update), text kept as written, XML that always parses, every
field of <request>, and the spec's errors for methods and formats."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.events import utcnow
from app.extensions import db
from app.reports.models import Open311Update, Report, ReportEvent, ReportPhoto
from app.reports.services import transition
from tests.console.test_console_open311 import KEY, V2, form
from tests.factories import GUANYINQIAO, actor, report

REQUEST_FIELDS = ["service_request_id", "status", "status_notes", "service_name", "service_code", "description",
                  "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
                  "expected_datetime", "address", "address_id", "zipcode", "lat", "long", "media_url"]


@pytest.fixture(autouse=True)
def open311_settings(app):
    app.config["OPEN311_API_KEYS"] = [KEY]
    app.config["OPEN311_MEDIA_HOSTS"] = ["photos.example.org"]


def _w3c(dt) -> str:
    """DateTime::Format::W3CDTF's form: 2026-12-02T06:00:00+00:00."""
    return dt.replace(microsecond=0).isoformat()


def fixmystreet_report(**extra) -> dict:
    """What _populate_service_request_params sends (extended_description, a photo on FixMyStreet's own host)."""
    params = {
        "jurisdiction_id": "jiangbei", "api_key": KEY, "service_code": "E0504",
        "description": "路口有人摆摊\n\n晚上 8 点以后 x < y and y > z\n\nhttps://www.fixmystreet.com/report/42\n",
        "first_name": "San", "last_name": "Zhang", "email": "someone@example.org", "phone": "13800000000",
        "lat": f"{GUANYINQIAO[0]:.6f}", "long": f"{GUANYINQIAO[1]:.6f}",
        "media_url": "https://www.fixmystreet.com/photo/42.0.full.jpeg",
        "attribute[easting]": "1", "attribute[northing]": "2",
    }
    params.update(extra)
    return params


def test_fixmystreets_post_with_a_photo_on_its_own_host_is_accepted_and_the_photo_noted(client):
    response = client.post(f"{V2}/requests.xml", data=fixmystreet_report())
    assert response.status_code == 201, response.get_data(as_text=True)
    xml = ET.fromstring(response.data)  # FixMyStreet reads request[0]/service_request_id
    number = xml.find("request/service_request_id").text
    r = db.session.scalar(select(Report))
    assert r.case_number == number and "x < y and y > z" in r.description
    photo = db.session.scalar(select(ReportPhoto))
    assert photo.status == "missing" and "not on the allow-list" in photo.missing_reason
    token = xml.find("request/token").text
    assert ET.fromstring(client.get(f"{V2}/tokens/{token}.xml").data).find("request/service_request_id").text == number


def register_all() -> None:
    """Descriptions are public once a case is registered (and screening passed): register every case."""
    for r in db.session.scalars(select(Report).where(Report.status == "reported")).all():
        transition(r.id, "register", actor("dispatcher"))
    db.session.commit()


def test_text_is_kept_as_written_and_escaped_on_output(client):
    text = 'x < y and y > z & "quotes" <b>not bold</b>'
    client.post(f"{V2}/requests.json", data=form(description=text))
    register_all()
    [body] = client.get(f"{V2}/requests.json").get_json()
    assert body["description"] == text
    raw = client.get(f"{V2}/requests.xml").get_data(as_text=True)
    assert "x &lt; y and y &gt; z &amp;" in raw and "<b>" not in raw
    assert ET.fromstring(raw.encode()).find("request/description").text == text


def test_control_characters_xml_forbids_never_break_requests_xml(client):
    client.post(f"{V2}/requests.json", data=form(description="灯\x00坏\x07了\x1b[31m\ttab\r\nline"))
    report("别的渠道\x0b写进来的\x0c字符", category_code="E0504")  # stored by another channel, removed on output
    register_all()
    xml = ET.fromstring(client.get(f"{V2}/requests.xml").data)  # parses
    texts = {r.find("description").text for r in xml.findall("request")}
    assert "别的渠道写进来的字符" in texts
    [ours] = [t for t in texts if t.startswith("灯")]
    assert ours.startswith("灯坏了[31m\ttab") and ours.endswith("line")  # tab and line breaks are allowed
    assert db.session.scalar(select(Report.description).where(Report.channel == "open311")).startswith("灯坏了")


def test_descriptions_up_to_4000_characters_are_accepted(client):
    response = client.post(f"{V2}/requests.json", data=form(description="占" * 4000))
    assert response.status_code == 201
    assert len(db.session.scalar(select(Report.description))) == 4000


def test_every_request_carries_every_field_of_the_spec_empty_when_unknown(client):
    report("路口有人摆摊", category_code="E0504")
    db.session.commit()
    [body] = client.get(f"{V2}/requests.json").get_json()
    assert sorted(body) == sorted(REQUEST_FIELDS)  # JSON keys come sorted
    assert body["address_id"] == "" and body["zipcode"] == "" and body["media_url"] == ""
    element = ET.fromstring(client.get(f"{V2}/requests.xml").data).find("request")
    assert [child.tag for child in element] == REQUEST_FIELDS


@pytest.mark.parametrize(("method", "path", "fmt"), [
    ("delete", "/requests.json", "json"), ("put", "/requests.xml", "xml"), ("post", "/services.xml", "xml"),
    ("patch", "/requests/JB0000000000.json", "json"),
])
def test_a_method_the_endpoint_does_not_take_is_405_in_the_spec_format(client, method, path, fmt):
    response = getattr(client, method)(V2 + path)
    assert response.status_code == 405 and response.headers["Allow"]
    if fmt == "xml":
        assert ET.fromstring(response.data).find("error/code").text == "405"
    else:
        assert response.get_json()[0]["code"] == 405


@pytest.mark.parametrize("path", ["/services.XML", "/requests.Xml", "/services.csv", "/services"])
def test_an_unknown_format_is_a_404_in_the_spec_format_xml_for_any_xml_spelling(client, path):
    response = client.get(V2 + path)
    assert response.status_code == 404
    if path.lower().endswith(".xml"):
        assert ET.fromstring(response.data).find("error/code").text == "404"
    else:
        assert response.get_json()[0]["code"] == 404 and ".json and .xml" in response.get_json()[0]["description"]


def _fixmystreet_update(number: str, update_id: str = "9001", **extra) -> dict:
    """What _populate_service_request_update_params and _request('POST') send."""
    params = {"jurisdiction_id": "jiangbei", "api_key": KEY, "updated_datetime": _w3c(utcnow()),
              "service_request_id": number, "status": "OPEN", "description": "摊贩又回来了 <还在>",
              "last_name": "Zhang", "first_name": "San", "email": "someone@example.org", "update_id": update_id}
    params.update(extra)
    return params


def test_fixmystreet_reads_our_updates_since_a_time(client):
    r = report("路口有人摆摊", category_code="E0504")
    transition(r.id, "register", actor("dispatcher"))
    transition(r.id, "dispatch", actor("dispatcher"), department_code="JB-S-GYQ", note="内部备注：联系王科长")
    number = r.case_number
    db.session.commit()
    start, end = _w3c(utcnow() - timedelta(hours=1)), _w3c(utcnow() + timedelta(minutes=1))
    response = client.get(f"{V2}/servicerequestupdates.xml",
                          query_string={"api_key": KEY, "start_date": start, "end_date": end,
                                        "jurisdiction_id": "jiangbei"})
    assert response.status_code == 200, response.get_data(as_text=True)
    xml = ET.fromstring(response.data)
    assert xml.tag == "service_request_updates"
    updates = xml.findall("request_update")
    assert [u.find("external_status_code").text for u in updates] == ["registered", "dispatched"]
    assert {u.find("service_request_id").text for u in updates} == {number}
    assert updates[-1].find("status").text == "open" and updates[-1].find("updated_datetime").text.endswith("Z")
    assert "王科长" not in response.get_data(as_text=True)  # staff notes stay on the staff side
    later = client.get(f"{V2}/servicerequestupdates.json",
                       query_string={"start_date": end, "end_date": _w3c(utcnow() + timedelta(hours=2))})
    assert later.get_json() == []
    assert client.get(f"{V2}/servicerequestupdates.json", query_string={"start_date": start}).status_code == 400


def test_fixmystreet_posts_an_update_once_however_often_it_retries(client):
    number = report("路口有人摆摊", category_code="E0504").case_number
    db.session.commit()
    answers = []
    for _ in range(3):
        response = client.post(f"{V2}/servicerequestupdates.xml", data=_fixmystreet_update(number))
        assert response.status_code == 201, response.get_data(as_text=True)
        answers.append(ET.fromstring(response.data).find("request_update/update_id").text)
    assert len(set(answers)) == 1 and answers[0].startswith(number)
    comments = db.session.scalars(select(ReportEvent).where(ReportEvent.action == "comment")).all()
    assert len(comments) == 1 and "摊贩又回来了 <还在>" in comments[0].note
    assert "someone@example.org" not in repr(comments[0].__dict__)
    assert db.session.scalar(select(func.count()).select_from(Open311Update)) == 1
    status = db.session.scalar(select(Report.status).where(Report.case_number == number))
    closing = client.post(f"{V2}/servicerequestupdates.json", data=_fixmystreet_update(number, "9002",
                                                                                         status="CLOSED"))
    assert closing.status_code == 201
    db.session.expire_all()
    assert db.session.scalar(select(Report.status).where(Report.case_number == number)) == status  # not closed


@pytest.mark.parametrize(("changes", "status"), [
    ({"api_key": "wrong"}, 403), ({"api_key": None}, 403), ({"service_request_id": "JB0000000000"}, 404),
    ({"update_id": None}, 400), ({"description": ""}, 400), ({"description": "占" * 2001}, 400),
    ({"update_id": "u" * 65}, 400),
])
def test_a_bad_update_is_refused_in_the_spec_format_and_writes_nothing(client, changes, status):
    number = report("路口有人摆摊", category_code="E0504").case_number
    db.session.commit()
    data = {k: v for k, v in {**_fixmystreet_update(number), **changes}.items() if v is not None}
    response = client.post(f"{V2}/servicerequestupdates.xml", data=data)
    assert response.status_code == status
    assert ET.fromstring(response.data).find("error/code").text == str(status)
    assert db.session.scalar(select(func.count()).select_from(Open311Update)) == 0


def test_an_update_from_another_client_with_the_same_id_is_its_own(client, app):
    app.config["OPEN311_API_KEYS"] = [KEY, "another-client-key"]
    number = report("路口有人摆摊", category_code="E0504").case_number
    db.session.commit()
    first = client.post(f"{V2}/servicerequestupdates.json", data=_fixmystreet_update(number)).get_json()
    second = client.post(f"{V2}/servicerequestupdates.json",
                         data=_fixmystreet_update(number, api_key="another-client-key")).get_json()
    assert first[0]["update_id"] != second[0]["update_id"]


@pytest.mark.parametrize("where", [{"address_string": "江北区观音桥步行街 12 号"}, {"address_id": "#NOTPINPOINTED#"}])
def test_an_address_only_request_is_registered_without_a_point_and_flagged_for_the_dispatcher(client, where):
    response = client.post(f"{V2}/requests.json", data=form(lat=None, long=None, **where))
    assert response.status_code == 201, response.get_data(as_text=True)
    r = db.session.scalar(select(Report))
    assert r.lat is None and r.lng is None and r.needs_location and r.grid_id is None
    assert next(iter(where.values())) in r.address
    [body] = client.get(f"{V2}/requests/{r.case_number}.json").get_json()
    assert body["lat"] == "" and body["long"] == "" and body["status"] == "open"
    assert ET.fromstring(client.get(f"{V2}/requests.xml").data).find("request/lat").text is None


def test_a_case_without_a_point_opens_in_the_console_and_its_dashboard(client, app, staff):
    from tests.console.conftest import login

    client.post(f"{V2}/requests.json", data=form(lat=None, long=None, address_string="观音桥"))
    report_id = db.session.scalar(select(Report.id))
    db.session.commit()
    app.config["MAP_TILE_URL"] = "https://tiles.example.org/{z}/{x}/{y}.png"
    login(client, "dispatcher")
    page = client.get(f"/console/cases/{report_id}")
    assert page.status_code == 200 and "待定位" in page.get_data(as_text=True)
    assert client.get("/console/").status_code == 200
    assert client.get("/console/dashboard").status_code == 200  # its heat map skips a case without a point


def test_a_request_with_no_location_at_all_is_refused_naming_every_accepted_field(client):
    response = client.post(f"{V2}/requests.json", data=form(lat=None, long=None))
    assert response.status_code == 400
    assert "lat and long, address_string or address_id" in response.get_json()[0]["description"]
