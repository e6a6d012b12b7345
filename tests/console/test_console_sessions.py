"""Staff logins under attack and staff sessions on the server: lockout, equal answers, logout, expiry, revocation."""

from __future__ import annotations

import hashlib
import re
import statistics
import threading
import time

import requests
from sqlalchemy import select

from app import create_app
from app.citizens.models import StaffUser
from app.citizens.services import create_staff_user
from app.extensions import db, get_redis
from tests.conftest import make_config
from tests.console.conftest import PASSWORDS, csrf_from, login

WRONG = "用户名或密码错误"
LOCKED = "登录失败次数过多"
_ALERT = re.compile(r'role="alert">([^<]+)<')


def _alert(html: str) -> str:
    """The error text of a login page (nothing else of the page differs between two refusals but the token)."""
    match = _ALERT.search(html)
    return match.group(1).strip() if match else ""


def _message(response) -> str:
    return _alert(response.get_data(as_text=True))


def test_forty_parallel_wrong_passwords_get_at_most_the_configured_number_checked(app, staff, live_server):
    limit = app.config["LOGIN_MAX_FAILURES"]
    sessions = []
    for _ in range(40):
        s = requests.Session()
        html = s.get(f"{live_server}/console/login", timeout=10).text
        sessions.append((s, re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)))
    barrier = threading.Barrier(len(sessions))
    answers: list[str] = []

    def attempt(s, token):
        barrier.wait()
        r = s.post(f"{live_server}/console/login", timeout=30, allow_redirects=False,
                   data={"username": "admin", "password": "not-the-password", "csrf_token": token})
        answers.append(_alert(r.text))

    threads = [threading.Thread(target=attempt, args=pair) for pair in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    checked = sum(a == WRONG for a in answers)
    locked = sum(LOCKED in a for a in answers)
    assert len(answers) == 40 and checked <= limit and checked + locked == 40, (checked, locked)
    # Even the right password is refused now, from this client.
    s, token = sessions[0]
    html = s.get(f"{live_server}/console/login", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    r = s.post(f"{live_server}/console/login", allow_redirects=False, timeout=10,
               data={"username": "admin", "password": PASSWORDS["admin"], "csrf_token": token})
    assert r.status_code == 401 and LOCKED in _alert(r.text)


def test_an_unknown_username_and_a_wrong_password_cost_one_hash_each(app, staff, monkeypatch):
    create_staff_user("zhao", "dispatcher", "zhao-password-123")  # the real KDF, as production accounts have
    calls = []
    real_scrypt = hashlib.scrypt
    monkeypatch.setattr(hashlib, "scrypt", lambda *a, **k: calls.append(1) or real_scrypt(*a, **k))
    client = app.test_client()
    login(client, "zhao", "wrong-password")
    wrong = len(calls)
    login(client, "nobody-here", "wrong-password")
    assert wrong == 1 and len(calls) - wrong == 1


def test_an_unknown_username_and_a_wrong_password_take_about_the_same_time(app, staff):
    create_staff_user("qian", "dispatcher", "qian-password-123")
    app.config["LOGIN_MAX_FAILURES"] = 1000  # time the checks, not the lockout
    client = app.test_client()
    known, unknown = [], []
    for i in range(7):
        for name, into in (("qian", known), (f"ghost{i}", unknown)):
            t0 = time.perf_counter()
            response = login(client, name, "wrong-password")
            into.append(time.perf_counter() - t0)
            assert response.status_code == 401 and _message(response) == WRONG
    ratio = statistics.median(unknown) / statistics.median(known)
    assert 0.6 < ratio < 1.6, ratio


def test_the_lockout_answer_is_the_same_for_unknown_and_existing_usernames(app, staff):
    limit = app.config["LOGIN_MAX_FAILURES"]
    answers = {}
    for username in ("admin", "no-such-user"):
        client = app.test_client()
        for _ in range(limit):
            assert _message(login(client, username, "wrong-password")) == WRONG
        response = login(client, username, "wrong-password")
        answers[username] = (response.status_code, _message(response))
    assert answers["admin"] == answers["no-such-user"] and LOCKED in answers["admin"][1]


def test_a_lockout_from_one_client_does_not_lock_the_admin_out_from_another(app, staff):
    attacker = app.test_client()
    attacker.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    for _ in range(app.config["LOGIN_MAX_FAILURES"] + 3):
        login(attacker, "admin", "guess")
    assert LOCKED in _message(login(attacker, "admin"))
    admin = app.test_client()
    admin.environ_base["REMOTE_ADDR"] = "10.1.2.3"
    assert login(admin, "admin").status_code == 302


def test_behind_a_trusted_proxy_clients_are_told_apart_by_x_forwarded_for(app, staff, tmp_path):
    proxied = create_app(make_config(tmp_path, TRUSTED_PROXY_HOPS=1))  # the same database as `app`
    with proxied.app_context():
        attacker = proxied.test_client()
        attacker.environ_base.update(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7")
        for _ in range(proxied.config["LOGIN_MAX_FAILURES"] + 1):
            login(attacker, "admin", "guess")
        assert LOCKED in _message(login(attacker, "admin"))
        admin = proxied.test_client()
        admin.environ_base.update(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="10.9.9.9")
        try:
            assert login(admin, "admin").status_code == 302
        finally:
            db.session.remove()
            db.engine.dispose()


def test_a_successful_login_clears_the_failures_of_that_client(app, staff):
    client = app.test_client()
    for _ in range(app.config["LOGIN_MAX_FAILURES"] - 1):
        login(client, "dispatcher", "wrong")
    assert login(client, "dispatcher").status_code == 302
    other = app.test_client()
    for _ in range(app.config["LOGIN_MAX_FAILURES"] - 1):
        assert _message(login(other, "dispatcher", "wrong")) == WRONG


def _session_cookie(client) -> str:
    return client.get_cookie("session").value


def test_logout_ends_the_session_on_the_server_so_the_old_cookie_opens_nothing(app, as_role):
    c = as_role("admin")
    stolen = _session_cookie(c)
    token = csrf_from(c, "/console/")
    assert c.post("/console/logout", data={"csrf_token": token}).status_code == 302
    replay = app.test_client()
    replay.set_cookie("session", stolen)
    response = replay.get("/console/")
    assert response.status_code == 302 and "/console/login" in response.headers["Location"]


def _age_sessions(seconds_idle: float | None = None, seconds_old: float | None = None) -> None:
    """Move every staff session's clock back (the sessions live in Redis as hashes with epoch seconds)."""
    r = get_redis()
    for key in r.scan_iter("staff-session:*"):
        if r.type(key) != b"hash":
            continue
        if seconds_idle is not None:
            r.hset(key, "last_seen", time.time() - seconds_idle)
        if seconds_old is not None:
            r.hset(key, "created", time.time() - seconds_old)


def test_a_staff_session_ends_after_the_idle_time(app, as_role):
    c = as_role("dispatcher")
    assert c.get("/console/").status_code == 200
    _age_sessions(seconds_idle=app.config["STAFF_SESSION_IDLE_S"] - 60)
    assert c.get("/console/").status_code == 200  # still within the idle time, and this use refreshes it
    _age_sessions(seconds_idle=app.config["STAFF_SESSION_IDLE_S"] + 1)
    assert c.get("/console/").status_code == 302


def test_a_staff_session_ends_at_its_maximum_age_even_when_in_use(app, as_role):
    c = as_role("dispatcher")
    _age_sessions(seconds_old=app.config["STAFF_SESSION_MAX_AGE_S"] - 60)
    assert c.get("/console/").status_code == 200
    _age_sessions(seconds_old=app.config["STAFF_SESSION_MAX_AGE_S"] + 1)
    assert c.get("/console/").status_code == 302


def test_the_session_defaults_are_a_working_day(app):
    assert app.config["STAFF_SESSION_MAX_AGE_S"] == 10 * 3600
    assert app.config["STAFF_SESSION_IDLE_S"] == 2 * 3600


def test_a_password_change_ends_the_other_sessions_of_that_user_only(app, as_role):
    here, elsewhere, colleague = as_role("dispatcher"), as_role("dispatcher"), as_role("inspector")
    token = csrf_from(here, "/console/password")
    response = here.post("/console/password", data={
        "csrf_token": token, "current_password": PASSWORDS["dispatcher"],
        "new_password": "a-new-long-password", "confirm_password": "a-new-long-password"})
    assert response.status_code == 302
    assert here.get("/console/").status_code == 200
    assert elsewhere.get("/console/").status_code == 302
    assert colleague.get("/console/").status_code == 200
    assert login(app.test_client(), "dispatcher", "a-new-long-password").status_code == 302


def test_a_password_change_needs_the_current_password_and_a_long_new_one(app, as_role):
    c = as_role("dispatcher")
    for current, new, confirm in ((PASSWORDS["dispatcher"], "short", "short"),
                                  ("wrong-current-pass", "a-new-long-password", "a-new-long-password"),
                                  (PASSWORDS["dispatcher"], "a-new-long-password", "another-long-password")):
        token = csrf_from(c, "/console/password")
        response = c.post("/console/password", data={"csrf_token": token, "current_password": current,
                                                      "new_password": new, "confirm_password": confirm})
        assert response.status_code == 400, (current, new)
    assert login(app.test_client(), "dispatcher").status_code == 302  # unchanged


def test_a_password_or_role_change_from_the_cli_ends_every_session_of_that_user(app, runner, as_role):
    first, second = as_role("dispatcher"), as_role("inspector")
    result = runner.invoke(args=["users", "set-password", "dispatcher"],
                           input="a-new-long-password\na-new-long-password\n")
    assert result.exit_code == 0, result.output
    assert first.get("/console/").status_code == 302 and second.get("/console/").status_code == 200
    result = runner.invoke(args=["users", "set-role", "inspector", "--role", "dispatcher"])
    assert result.exit_code == 0, result.output
    assert second.get("/console/").status_code == 302
    user = db.session.scalar(select(StaffUser).where(StaffUser.username == "inspector"))
    assert user.role == "dispatcher"


def test_role_and_password_changes_are_service_functions_that_end_sessions(app, as_role):
    from app.citizens.services import change_password, change_role

    c = as_role("handler")
    user = db.session.scalar(select(StaffUser).where(StaffUser.username == "handler"))
    change_role(user.id, "handler", user.department_id)  # the same role: nothing to end
    assert c.get("/console/").status_code == 200
    change_role(user.id, "inspector", None)
    assert c.get("/console/").status_code == 302
    c = app.test_client()
    assert login(c, "handler").status_code == 302
    change_password(user.id, "yet-another-password")
    assert c.get("/console/").status_code == 302
