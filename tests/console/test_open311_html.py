"""Open311's handling of markup in descriptions (docs/open311.md): kept as written, escaped on every output (XML,
the public page), never interpreted."""

from __future__ import annotations

import pytest
from defusedxml import ElementTree
from sqlalchemy import select

from app.extensions import db
from app.reports.models import Report
from tests.factories import GUANYINQIAO

KEY = "key-for-the-html-tests"
V2 = "/open311/v2"


@pytest.fixture(autouse=True)
def open311_key(app):
    app.config["OPEN311_API_KEYS"] = [KEY]


def post(client, description: str, fmt: str = "json"):
    return client.post(f"{V2}/requests.{fmt}", data={"api_key": KEY, "service_code": "E0504",
                                                     "lat": str(GUANYINQIAO[0]), "long": str(GUANYINQIAO[1]),
                                                     "description": description})


@pytest.mark.parametrize(
    "sent",
    [
        "<p>路口有人<b>摆摊</b>卖水果</p>",
        '<a href="javascript:alert(1)" onclick="x()">井盖</a>没了<br/>',
        "<script>alert(1)</script>路灯不亮",
        "&lt;img src=x onerror=alert(1)&gt;小广告",
        "占道 & 堆物 5 > 3",
    ],
)
def test_a_posted_description_is_kept_as_written(client, sent):
    """Issue 16: text is kept as the citizen (or FixMyStreet) wrote it; it is escaped where it is shown."""
    response = post(client, sent)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert db.session.scalar(select(Report.description)) == sent


def test_markup_comes_back_escaped_in_xml_and_as_text_in_json_and_on_the_public_page(client):
    from app.reports.services import transition
    from tests.factories import actor

    sent = '<script>alert(1)</script>占道 & 堆物 <b>5 > 3</b>'
    number = post(client, sent).get_json()[0]["service_request_id"]
    report = db.session.scalar(select(Report).where(Report.case_number == number))
    transition(report.id, "register", actor("dispatcher"))  # descriptions are public once registered
    [as_json] = client.get(f"{V2}/requests/{number}.json").get_json()
    assert as_json["description"] == sent
    xml = client.get(f"{V2}/requests/{number}.xml").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;占道 &amp; 堆物 &lt;b&gt;5 &gt; 3&lt;/b&gt;" in xml
    assert ElementTree.fromstring(xml).find("request/description").text == sent
    page = client.get(f"/cases/{number}").get_data(as_text=True)
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
