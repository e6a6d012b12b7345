"""Console and staff-API input that used to give a 500 or a silent 200: CR/LF in next=, unknown or wildcard
categories."""

from __future__ import annotations

import pytest

from app.citizens.auth import create_api_token
from tests.console.conftest import PASSWORDS, csrf_from


@pytest.mark.parametrize("target", ["/console/\r\nSet-Cookie: x=1", "/console/\nx", "/console/\rx", "/console/\x00",
                                    "/console/\tx", "/console/\x7f"])
def test_a_next_with_cr_lf_or_control_characters_lands_on_the_console_home(app, staff, target):
    client = app.test_client()
    token = csrf_from(client)
    response = client.post("/console/login", data={"username": "admin", "password": PASSWORDS["admin"],
                                                   "csrf_token": token, "next": target})
    assert response.status_code == 302 and response.headers["Location"] == "/console/"
    again = client.get("/console/login", query_string={"next": target})  # already logged in: straight on
    assert again.status_code == 302 and again.headers["Location"] == "/console/"


def test_a_percent_encoded_cr_lf_in_next_stays_encoded(app, staff):
    client = app.test_client()
    token = csrf_from(client)
    response = client.post("/console/login", data={"username": "admin", "password": PASSWORDS["admin"],
                                                   "csrf_token": token, "next": "/console/%0d%0aX: 1"})
    assert response.status_code == 302
    assert "\r" not in response.headers["Location"] and "\n" not in response.headers["Location"]


def _token():
    return {"Authorization": "Bearer " + create_api_token("platform", role="dispatcher")}


@pytest.mark.parametrize("category", ["NOPE", "E99", "%", "_", "E0%"])
def test_an_unknown_or_wildcard_category_filter_is_a_400(app, client, category):
    response = client.get("/api/staff/cases", query_string={"category": category}, headers=_token())
    assert response.status_code == 400 and response.json["error"] == "bad_filter"
    assert "category" in response.json["message"]


def test_a_known_category_class_or_subclass_still_filters(app, client):
    headers = _token()
    for category in ("E05", "E0504"):
        assert client.get("/api/staff/cases", query_string={"category": category}, headers=headers).status_code == 200


def test_the_console_case_list_answers_an_unknown_category_with_400(as_role):
    assert as_role("dispatcher").get("/console/", query_string={"category": "NOPE"}).status_code == 400
