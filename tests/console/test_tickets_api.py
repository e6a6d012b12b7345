"""The ticket API for a 12345 platform or sensors, and the signed status callbacks to a real HTTP server on
127.0.0.1: idempotent pushes, private contacts, hostile input, callbacks once each, in order, retried and recorded."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from sqlalchemy import func, select

from app.events import utcnow
from app.extensions import db
from app.reports.callbacks import CALLBACK_BACKOFF_S, check_callback_url, sweep_callbacks
from app.reports.models import Report
from app.reports.services import InvalidReport, transition
from app.reports.ticket_models import Ticket, TicketCallback
from app.reports.tickets import register_source
from tests.console.test_console_staff_api import check, make_token
from tests.factories import GUANYINQIAO, actor

SECRET = "s3cret-shared-with-12345"


class Receiver:
    """A callback endpoint on 127.0.0.1 that records what it gets and answers the statuses it is told to."""

    def __init__(self):
        self.received: list[dict] = []
        self.answers: list[int] = []  # next statuses to answer; 200 when empty
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = receiver.answers.pop(0) if receiver.answers else 200
                receiver.received.append({"headers": dict(self.headers), "body": body, "answered": status})
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/callback"

    def delivered(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.received if r["answered"] == 200]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def receiver(app):
    app.config["TICKET_CALLBACK_HOSTS"] = ["127.0.0.1"]
    r = Receiver()
    register_source("12345", "12345 市民服务热线", r.url, SECRET)
    yield r
    r.stop()


@pytest.fixture
def operator_token(runner):
    return make_token(runner, "hotline-12345", "--role", "operator")


def push(client, headers, **fields):
    body = {
        "source": "12345",
        "external_id": "GD20261202001",
        "lat": GUANYINQIAO[0],
        "lng": GUANYINQIAO[1],
        "description": "路口有人占道摆摊卖水果",
        "contact": {"phone": "13800138000", "name": "王先生"},
    } | fields
    return client.post("/api/staff/tickets", headers=headers, json={k: v for k, v in body.items() if v is not None})


def test_a_push_makes_one_case_and_a_retry_answers_200_with_the_same_case(client, receiver, operator_token):
    first = push(client, operator_token)
    assert first.status_code == 201
    body = check(first, "/tickets", "post")
    again = push(client, operator_token, description="重复推送，内容不同也不改原案件")
    assert again.status_code == 200 and check(again, "/tickets", "post") == body
    assert body["case_number"].startswith("JB") and body["source"] == "12345"
    report = db.session.get(Report, body["id"])
    assert report.channel == "ticket" and report.category.code == "E0504"  # suggested: 占道 / 摆摊
    assert db.session.scalar(select(func.count()).select_from(Ticket)) == 1
    found = check(
        client.get("/api/staff/tickets/12345/GD20261202001", headers=operator_token), "/tickets/{source}/{external_id}"
    )
    assert found["id"] == body["id"] and found["case"]["case_number"] == body["case_number"]


def test_the_contact_is_private_everywhere_but_the_staff_case_page(client, receiver, operator_token, staff):
    from tests.console.conftest import PASSWORDS, csrf_from

    number = push(client, operator_token).get_json()["case_number"]
    report_id = push(client, operator_token).get_json()["id"]
    surfaces = [
        client.get(f"/cases/{number}").get_data(as_text=True),
        client.get("/open311/v2/requests.json?status=open").get_data(as_text=True),
        client.get(f"/api/staff/cases/{report_id}", headers=operator_token).get_data(as_text=True),
        client.get("/api/staff/tickets/12345/GD20261202001", headers=operator_token).get_data(as_text=True),
    ]
    assert all("13800138000" not in s and "王先生" not in s for s in surfaces)
    client.post(
        "/console/login",
        data={"username": "dispatcher", "password": PASSWORDS["dispatcher"], "csrf_token": csrf_from(client)},
    )
    page = client.get(f"/console/cases/{report_id}").get_data(as_text=True)
    assert "13800138000" in page and "GD20261202001" in page


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"source": "nobody"}, "未登记"),
        ({"external_id": "../../etc/passwd"}, "external_id"),
        ({"external_id": "x" * 65}, "external_id"),
        ({"lat": None, "lng": None}, "address"),
        ({"lat": None, "lng": None, "address": "   "}, "address"),
        ({"lat": None}, "lat"),
        ({"lat": "29.57"}, "lat"),
        ({"description": "长" * 1001}, "description"),
        ({"category_code": "NOPE"}, "类别"),
        ({"media_urls": ["http://127.0.0.1/secret.jpg"]}, "media_urls"),
        ({"media_urls": ["https://evil.example.com/a.jpg"]}, "allow-list"),
        ({"media_urls": [f"https://a.example.com/{i}.jpg" for i in range(7)]}, "media_urls"),
        ({"contact": {"note": "x" * 600}}, "contact"),
        ({"deadline": "tomorrow"}, "deadline"),
        ({"lat": 39.9, "lng": 116.4}, "服务范围"),
        ({"priority": "high"}, "未知字段"),
    ],
)
def test_hostile_or_wrong_pushes_are_refused_with_400_and_make_nothing(
    client, receiver, operator_token, fields, message
):
    response = push(client, operator_token, **fields)
    assert response.status_code == 400 and message in check(response, "/tickets", "post")["message"]
    assert db.session.scalar(select(func.count()).select_from(Report)) == 0


def test_an_address_only_ticket_waits_for_the_dispatcher_to_place_it_then_routes(client, receiver, operator_token):
    from app.reports.placement import place_case

    res = push(client, operator_token, lat=None, lng=None, address="观音桥步行街 12 号")
    assert res.status_code == 201
    body = check(res, "/tickets", "post")
    report = db.session.get(Report, body["id"])
    assert report.needs_location and report.lat is None and report.grid_id is None  # no cell: routed by category only
    assert report.address == "观音桥步行街 12 号" and report.channel == "ticket"
    assert push(client, operator_token, lat=None, lng=None, address="观音桥步行街 12 号").status_code == 200  # retry
    place_case(report.id, *GUANYINQIAO, actor("dispatcher"))
    db.session.expire_all()
    report = db.session.get(Report, body["id"])
    assert not report.needs_location and report.grid_id is not None and report.department.code == "JB-S-GYQ"


def test_the_tickets_deadline_binds_the_case_when_it_is_earlier_than_the_categorys(client, receiver, operator_token):
    soon = (utcnow() + timedelta(hours=3)).replace(microsecond=0)
    late = (utcnow() + timedelta(days=30)).replace(microsecond=0)
    early_id = push(client, operator_token, external_id="GD-EARLY", deadline=soon.isoformat()).get_json()["id"]
    late_id = push(client, operator_token, external_id="GD-LATE", deadline=late.isoformat()).get_json()["id"]
    for report_id in (early_id, late_id):
        for action in ("register", "dispatch"):
            transition(report_id, action, actor("dispatcher"))
    db.session.expire_all()
    early, later = db.session.get(Report, early_id), db.session.get(Report, late_id)
    dispatched = [e for e in early.trail if e.action == "dispatch"][-1]
    assert early.deadline_at == soon and dispatched.data["deadline_source"] == "ticket"
    assert early.dispatched_at < early.warn_at < soon  # the 80 % warning runs against the ticket's deadline
    hours = later.category.time_limit_hours
    assert abs((later.deadline_at - later.dispatched_at) - timedelta(hours=hours)) < timedelta(seconds=1)
    assert "deadline_source" not in [e for e in later.trail if e.action == "dispatch"][-1].data


def test_tokens_are_checked_forged_handler_and_other_departments(client, runner, receiver, operator_token):
    assert push(client, {"Authorization": "Bearer bx_forged"}).status_code == 401
    assert push(client, {}).status_code == 401
    handler = make_token(runner, "gyq", "--role", "handler", "--department", "JB-S-HXJ")
    assert push(client, handler).status_code == 403
    push(client, operator_token)  # routed to 观音桥
    assert client.get("/api/staff/tickets/12345/GD20261202001", headers=handler).status_code == 404
    assert client.get("/api/staff/tickets/12345/nothing", headers=operator_token).status_code == 404
    assert (
        client.post(
            "/api/staff/tickets", headers=operator_token, data="not json", content_type="application/json"
        ).status_code
        == 400
    )


def test_parallel_pushes_of_one_ticket_make_one_case(app, receiver, operator_token, live_server):
    db.session.commit()
    answers = []

    def send():
        body = {
            "source": "12345",
            "external_id": "GD-PAR-1",
            "lat": GUANYINQIAO[0],
            "lng": GUANYINQIAO[1],
            "description": "井盖缺失",
        }
        answers.append(requests.post(f"{live_server}/api/staff/tickets", json=body, headers=operator_token, timeout=30))

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(a.status_code for a in answers) == [200] * 5 + [201]
    assert len({a.json()["id"] for a in answers}) == 1
    assert db.session.scalar(select(func.count()).select_from(Report)) == 1


def verify(record: dict) -> bool:
    """What a source does: recompute the HMAC over timestamp + "." + body with the shared secret."""
    ts, sig = record["headers"]["X-Baixing-Timestamp"], record["headers"]["X-Baixing-Signature"]
    expected = "sha256=" + hmac.new(SECRET.encode(), ts.encode() + b"." + record["body"], hashlib.sha256).hexdigest()
    return hmac.compare_digest(sig, expected)


def loop(report_id):
    transition(report_id, "register", actor("dispatcher"))
    transition(report_id, "dispatch", actor("dispatcher"), department_code="JB-S-GYQ")
    transition(report_id, "handle", actor("handler", "JB-S-GYQ"), note="已劝离")


def test_every_step_is_called_back_once_in_order_and_signed(client, receiver, operator_token, run_jobs):
    report_id = push(client, operator_token).get_json()["id"]
    loop(report_id)
    run_jobs()
    sweep_callbacks()
    run_jobs()
    got = receiver.delivered()
    assert [(c["action"], c["status"]) for c in got] == [
        ("register", "registered"),
        ("dispatch", "dispatched"),
        ("handle", "handled"),
    ]
    assert [c["seq"] for c in got] == sorted(c["seq"] for c in got)
    assert got[-1]["note"] == "已劝离" and got[0]["external_id"] == "GD20261202001"
    assert all(verify(r) for r in receiver.received)
    tampered = dict(receiver.received[0], body=receiver.received[0]["body"].replace(b"registered", b"closed"))
    assert not verify(tampered)
    assert "13800138000" not in b"".join(r["body"] for r in receiver.received).decode()
    statuses = db.session.scalars(select(TicketCallback.status)).all()
    assert statuses == ["delivered"] * 3


def test_a_failing_callback_is_retried_with_backoff_and_later_steps_wait_for_it(
    client, receiver, operator_token, run_jobs
):
    report_id = push(client, operator_token).get_json()["id"]
    receiver.answers = [500]
    transition(report_id, "register", actor("dispatcher"))
    run_jobs()
    [cb] = db.session.scalars(select(TicketCallback)).all()
    assert cb.status == "pending" and cb.attempts == 1 and cb.last_status_code == 500 and cb.next_attempt_at
    transition(report_id, "dispatch", actor("dispatcher"), department_code="JB-S-GYQ")
    run_jobs()
    assert receiver.delivered() == []  # the dispatch waits behind the register's backoff
    assert sweep_callbacks(now=utcnow() + timedelta(seconds=CALLBACK_BACKOFF_S[0] + 1)) == 1
    run_jobs()
    assert [c["action"] for c in receiver.delivered()] == ["register", "dispatch"]
    db.session.expire_all()
    assert db.session.get(TicketCallback, cb.id).attempts == 2


def test_a_callback_that_keeps_failing_is_marked_failed_shown_and_can_be_sent_again(
    app, client, receiver, operator_token, run_jobs, staff
):
    from tests.console.conftest import PASSWORDS, csrf_from

    report_id = push(client, operator_token).get_json()["id"]
    receiver.answers = [503] * (len(CALLBACK_BACKOFF_S) + 1)
    transition(report_id, "register", actor("dispatcher"))
    run_jobs()
    later = utcnow()
    for wait in CALLBACK_BACKOFF_S:
        later += timedelta(seconds=wait + 1)
        sweep_callbacks(now=later)
        run_jobs()
    db.session.expire_all()
    [cb] = db.session.scalars(select(TicketCallback)).all()
    assert cb.status == "failed" and cb.attempts == len(CALLBACK_BACKOFF_S) + 1 and cb.last_error == "HTTP 503"
    client.post(
        "/console/login",
        data={"username": "dispatcher", "password": PASSWORDS["dispatcher"], "csrf_token": csrf_from(client)},
    )
    page = client.get("/console/tickets").get_data(as_text=True)
    assert 'class="failed">1<' in page
    ticket_id = db.session.scalar(select(Ticket.id))
    token = csrf_from(client, "/console/tickets")
    assert client.post(f"/console/tickets/{ticket_id}/retry", data={"csrf_token": token}).status_code == 302
    run_jobs()
    assert [c["action"] for c in receiver.delivered()] == ["register"]
    assert 'class="delivered">1<' in client.get("/console/tickets").get_data(as_text=True)


def test_callback_urls_must_be_on_the_allow_list_and_internal_addresses_only_when_listed(app):
    app.config["TICKET_CALLBACK_HOSTS"] = []
    with pytest.raises(ValueError, match="allow-list"):
        check_callback_url("http://127.0.0.1:9/cb")
    app.config["TICKET_CALLBACK_HOSTS"] = ["localhost"]
    with pytest.raises(ValueError, match="internal"):
        check_callback_url("http://localhost:9/cb")  # a name for an internal address is not enough
    for bad in ("ftp://127.0.0.1/x", "http://user:pw@127.0.0.1/x", "http://" + "a" * 300):
        with pytest.raises(ValueError):
            check_callback_url(bad)
    with pytest.raises(InvalidReport, match="密钥"):
        app.config["TICKET_CALLBACK_HOSTS"] = ["127.0.0.1"]
        register_source("iot", callback_url="http://127.0.0.1:9/cb", secret="short")
