"""Staff JSON API: tokens from the CLI, list/get/transition/comment, the same rules as the console, and every
response checked against the OpenAPI description."""

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_spec
from sqlalchemy import func, select

from app.extensions import db
from app.reports.models import Report, ReportEvent
from app.reports.services import transition
from tests.factories import actor, report

SPEC = json.loads((Path(__file__).resolve().parents[2] / "app" / "reports" / "openapi.json").read_text("utf-8"))


def check(response, path: str, method: str = "get"):
    """Assert the response's status is documented for the operation and its body matches the documented schema."""
    responses = SPEC["paths"][path][method]["responses"]
    assert str(response.status_code) in responses, f"{response.status_code} not documented for {method} {path}"
    schema = responses[str(response.status_code)]["content"]["application/json"]["schema"]
    Draft202012Validator({**schema, "components": SPEC["components"]}).validate(response.get_json())
    return response.get_json()


def make_token(runner, name, *extra):
    result = runner.invoke(args=["api-tokens", "create", name, *extra])
    assert result.exit_code == 0, result.output
    return {"Authorization": f"Bearer {result.output.strip().splitlines()[-1]}"}


@pytest.fixture
def dispatcher_token(runner):
    return make_token(runner, "yunguanfu", "--role", "dispatcher")


def test_the_openapi_description_is_valid_openapi_3(client):
    validate_spec(SPEC)
    assert client.get("/api/staff/openapi.json").get_json()["openapi"].startswith("3.")


def test_a_token_is_printed_once_and_stored_only_as_a_hash(app, runner):
    from app.citizens.models import ApiToken

    headers = make_token(runner, "platform")
    token = headers["Authorization"][7:]
    row = db.session.scalar(select(ApiToken).where(ApiToken.name == "platform"))
    assert token.startswith("bx_") and token not in row.token_hash
    again = runner.invoke(args=["api-tokens", "create", "platform"])
    assert again.exit_code == 1 and "already exists" in again.output


def test_requests_without_a_valid_token_get_401(client, runner):
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        response = client.get("/api/staff/cases", headers=headers)
        assert response.status_code == 401
        check(response, "/cases")


def test_a_revoked_token_stops_working(client, runner, dispatcher_token):
    assert client.get("/api/staff/cases", headers=dispatcher_token).status_code == 200
    result = runner.invoke(args=["api-tokens", "revoke", "yunguanfu"])
    assert result.exit_code == 0 and "revoked" in result.output
    assert client.get("/api/staff/cases", headers=dispatcher_token).status_code == 401
    again = runner.invoke(args=["api-tokens", "revoke", "yunguanfu"])
    assert again.exit_code == 1 and "no live token" in again.output


def test_list_and_filter_cases(client, dispatcher_token):
    a = report("路口有人摆摊", category_code="E0504")
    b = report("墙上小广告", category_code="E0201", channel="hotline")
    body = check(client.get("/api/staff/cases", headers=dispatcher_token), "/cases")
    assert body["total"] == 2 and {i["case_number"] for i in body["items"]} == {a.case_number, b.case_number}
    assert body["counts"] == {"reported": 2}
    only = check(client.get("/api/staff/cases?channel=hotline", headers=dispatcher_token), "/cases")
    assert [i["case_number"] for i in only["items"]] == [b.case_number]
    assert "citizen" not in json.dumps(body) and "openid" not in json.dumps(body)
    bad = client.get("/api/staff/cases?status=lost", headers=dispatcher_token)
    assert bad.status_code == 400 and "status" in check(bad, "/cases")["message"]


def test_get_one_case_with_its_trail_and_actions(client, dispatcher_token):
    r = report()
    body = check(client.get(f"/api/staff/cases/{r.id}", headers=dispatcher_token), "/cases/{id}")
    assert body["case_number"] == r.case_number and [e["action"] for e in body["trail"]] == ["submit"]
    assert set(body["actions"]) == {"register", "cancel", "mark_duplicate", "recategorize"}
    missing = client.get("/api/staff/cases/99999", headers=dispatcher_token)
    assert missing.status_code == 404 and check(missing, "/cases/{id}")["error"] == "not_found"


def test_transitions_follow_the_loop_with_409_403_and_404(client, runner, dispatcher_token):
    r = report("路口有人摆摊", category_code="E0504")
    url = f"/api/staff/cases/{r.id}/transitions"
    path = "/cases/{id}/transitions"
    ok = client.post(url, json={"action": "register", "expected_version": 1}, headers=dispatcher_token)
    assert ok.status_code == 200 and check(ok, path, "post")["status"] == "registered"
    stale = client.post(url, json={"action": "dispatch", "expected_version": 1}, headers=dispatcher_token)
    assert stale.status_code == 409 and check(stale, path, "post")["error"] == "conflict"
    illegal = client.post(url, json={"action": "close"}, headers=dispatcher_token)
    assert illegal.status_code == 409 and check(illegal, path, "post")["error"] == "invalid_transition"
    inspector = make_token(runner, "inspector-system", "--role", "inspector")
    forbidden = client.post(url, json={"action": "dispatch"}, headers=inspector)
    assert forbidden.status_code == 403 and check(forbidden, path, "post")["error"] == "not_allowed"
    bad = client.post(url, json={"action": "dispatch", "department": "NOPE"}, headers=dispatcher_token)
    assert bad.status_code == 400 and check(bad, path, "post")["error"] == "invalid_report"
    unknown = client.post(url, json={"action": "teleport"}, headers=dispatcher_token)
    assert unknown.status_code == 400 and check(unknown, path, "post")["error"] == "bad_request"
    db.session.expire_all()
    assert (db.session.get(Report, r.id).status, db.session.get(Report, r.id).version) == ("registered", 2)
    assert db.session.scalars(select(ReportEvent.action).where(ReportEvent.report_id == r.id)
                              .order_by(ReportEvent.seq)).all() == ["submit", "register"]  # refusals left no trail
    dispatched = client.post(url, json={"action": "dispatch", "department": "JB-S-GYQ", "expected_version": 2},
                             headers=dispatcher_token)
    assert check(dispatched, path, "post")["department"] == "JB-S-GYQ"


def test_a_department_token_sees_only_that_departments_cases(client, runner):
    mine = report("路口有人摆摊", category_code="E0504")  # 观音桥街道
    other = report("垃圾没人收", category_code="E0102")  # 环卫所
    headers = make_token(runner, "gyq", "--role", "handler", "--department", "JB-S-GYQ")
    listed = check(client.get("/api/staff/cases", headers=headers), "/cases")
    assert [i["case_number"] for i in listed["items"]] == [mine.case_number]
    assert client.get(f"/api/staff/cases/{other.id}", headers=headers).status_code == 404
    response = client.post(f"/api/staff/cases/{other.id}/transitions", json={"action": "handle", "note": "x"},
                           headers=headers)
    assert response.status_code == 404 and check(response, "/cases/{id}/transitions", "post")
    db.session.expire_all()
    untouched = db.session.get(Report, other.id)
    assert (untouched.status, untouched.version) == ("reported", 1)
    assert db.session.scalar(select(func.count()).select_from(ReportEvent)
                             .where(ReportEvent.report_id == other.id)) == 1  # only its submission


def test_a_comment_goes_on_the_trail_without_changing_the_state(client, dispatcher_token):
    r = report()
    url = f"/api/staff/cases/{r.id}/comments"
    response = client.post(url, json={"note": "已电话联系物业"}, headers=dispatcher_token)
    body = check(response, "/cases/{id}/comments", "post")
    assert response.status_code == 201 and body["action"] == "comment" and body["to_status"] == "reported"
    assert body["actor_name"] == "yunguanfu"
    db.session.expire_all()
    assert db.session.get(Report, r.id).status == "reported"
    empty = client.post(url, json={"note": "  "}, headers=dispatcher_token)
    assert empty.status_code == 400 and check(empty, "/cases/{id}/comments", "post")
    stale = client.post(url, json={"note": "again", "expected_version": 1}, headers=dispatcher_token)
    assert stale.status_code == 409 and check(stale, "/cases/{id}/comments", "post")["error"] == "conflict"
    count = db.session.scalar(select(func.count()).select_from(ReportEvent).where(ReportEvent.report_id == r.id))
    assert count == 2
    # the loop goes on after a comment (the trail numbering stays consistent)
    assert transition(r.id, "register", actor("dispatcher")).status == "registered"


def test_a_console_session_cannot_be_used_for_a_cross_site_form_post(app, as_role):
    r = report()
    c = as_role("dispatcher")
    forged = c.post(f"/api/staff/cases/{r.id}/transitions", data="action=register", content_type="text/plain")
    assert forged.status_code == 400
    db.session.expire_all()
    assert db.session.get(Report, r.id).status == "reported"


def test_an_id_beyond_any_row_is_404_and_a_wrong_method_says_what_is_allowed(client, dispatcher_token):
    # Found by schemathesis: a 37-digit id overflowed the database's integer (a 500).
    response = client.get("/api/staff/cases/297283480235553182592657608906113024", headers=dispatcher_token)
    assert response.status_code == 404 and response.get_json()["error"] == "not_found"
    response = client.delete("/api/staff/cases", headers=dispatcher_token)
    assert response.status_code == 405 and "GET" in response.headers["Allow"]
    assert response.get_json()["error"] == "method_not_allowed"
