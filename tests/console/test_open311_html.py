"""Open311's HTML handling (docs/open311.md): a POSTed description has its HTML tags stripped, entities included,
and what comes back out, in JSON and XML, is that plain text."""

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
    ("sent", "stored"),
    [
        ("<p>路口有人<b>摆摊</b>卖水果</p>", "路口有人摆摊卖水果"),
        ('<a href="javascript:alert(1)" onclick="x()">井盖</a>没了<br/>', "井盖没了"),
        ("<script>alert(1)</script>路灯不亮", "alert(1)路灯不亮"),  # the tags go, their text stays as text
        ("&lt;img src=x onerror=alert(1)&gt;小广告", "小广告"),  # escaped tags are unescaped, then stripped
        ("占道 &amp; 堆物 5 &gt; 3", "占道 & 堆物 5 > 3"),  # entities become their characters
        ("<div>  </div>", "店外经营（占道经营）"),  # nothing but tags: the category's name stands in
    ],
)
def test_a_posted_description_is_stored_as_plain_text(client, sent, stored):
    response = post(client, sent)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert db.session.scalar(select(Report.description)) == stored


def test_the_plain_text_comes_back_escaped_in_xml_and_as_is_in_json(client):
    number = post(client, "<i>占道</i> &amp; 堆物 &lt;b&gt;").get_json()[0]["service_request_id"]
    [as_json] = client.get(f"{V2}/requests/{number}.json").get_json()
    assert as_json["description"] == "占道 & 堆物"
    xml = client.get(f"{V2}/requests/{number}.xml").get_data(as_text=True)
    assert "<description>占道 &amp; 堆物</description>" in xml
    assert ElementTree.fromstring(xml).find("request/description").text == "占道 & 堆物"
