"""Staff accounts: the users CLI, login with CSRF and lockout, logout, cookie flags, redirects, who sees what."""


from sqlalchemy import select
from werkzeug.security import check_password_hash

from app import create_app
from app.citizens.models import StaffUser
from app.extensions import db
from tests.conftest import make_config
from tests.console.conftest import PASSWORDS, csrf_from, login


def test_users_create_generates_a_password_and_stores_only_its_hash(app, runner):
    result = runner.invoke(args=["users", "create", "zhang", "--role", "dispatcher", "--generate"])
    assert result.exit_code == 0, result.output
    password = result.output.split("password: ")[1].strip()
    user = db.session.scalar(select(StaffUser).where(StaffUser.username == "zhang"))
    assert user.role == "dispatcher" and password not in user.password_hash
    assert check_password_hash(user.password_hash, password)


def test_users_create_asks_for_the_password_when_not_generating(app, runner):
    result = runner.invoke(
        args=["users", "create", "li", "--role", "handler", "--department", "JB-S-GYQ"],
        input="a-long-password\na-long-password\n",
    )
    assert result.exit_code == 0, result.output
    assert "password:" not in result.output
    user = db.session.scalar(select(StaffUser).where(StaffUser.username == "li"))
    assert check_password_hash(user.password_hash, "a-long-password") and user.department_id is not None


def test_users_create_refuses_bad_input_with_a_clear_message(app, runner, staff):
    cases = [
        (["users", "create", "h1", "--role", "handler", "--generate"], "needs --department"),
        (["users", "create", "h2", "--role", "handler", "--department", "NOPE", "--generate"], "unknown department"),
        (["users", "create", "x", "--role", "boss", "--generate"], "Invalid value for '--role'"),
        (["users", "create", "admin", "--role", "admin", "--generate"], "is taken"),
    ]
    for args, message in cases:
        result = runner.invoke(args=args)
        assert result.exit_code != 0 and message in result.output, (args, result.output)
    short = runner.invoke(args=["users", "create", "w", "--role", "admin"], input="short\nshort\n")
    assert short.exit_code == 1 and "at least 10" in short.output
    assert db.session.scalar(select(StaffUser).where(StaffUser.username.in_(["h1", "h2", "x", "w"]))) is None


def test_console_pages_send_anonymous_visitors_to_the_login_page(client):
    response = client.get("/console/dashboard")
    assert response.status_code == 302 and response.headers["Location"].startswith("/console/login?next=")


def test_a_staff_user_logs_in_and_lands_where_they_wanted(client, staff):
    token = csrf_from(client, "/console/login?next=/console/dashboard")
    response = client.post(
        "/console/login?next=/console/dashboard",
        data={"username": "dispatcher", "password": PASSWORDS["dispatcher"], "csrf_token": token,
              "next": "/console/dashboard"},
    )
    assert response.status_code == 302 and response.headers["Location"] == "/console/dashboard"
    assert client.get("/console/dashboard").status_code == 200


def test_login_never_redirects_to_another_site(app, staff):
    for target in ("https://evil.example/", "//evil.example/console/", "/points/"):
        client = app.test_client()
        token = csrf_from(client)
        response = client.post(
            "/console/login",
            data={"username": "admin", "password": PASSWORDS["admin"], "csrf_token": token, "next": target},
        )
        assert response.headers["Location"] == "/console/", target


def test_a_wrong_password_is_refused_and_five_lock_the_account(client, staff):
    for _ in range(5):
        response = login(client, "inspector", "wrong-password")
        assert response.status_code == 401 and "用户名或密码错误" in response.get_data(as_text=True)
    response = login(client, "inspector")  # the right password, but paused now
    assert response.status_code == 401 and "登录失败次数过多" in response.get_data(as_text=True)
    assert client.get("/console/").status_code == 302


def test_the_lockout_ends_after_its_configured_time_and_not_before(app, client, staff):
    """The pause lives in Redis (app/citizens/throttle.py): its key expires LOGIN_LOCKOUT_S after the last failure."""
    import time

    from app.citizens.throttle import _key

    app.config["LOGIN_LOCKOUT_S"] = 2
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert login(client, "inspector", "wrong-password").status_code == 401
    key = _key("inspector", "127.0.0.1")
    assert 0 < app.extensions["redis"].pttl(key) <= 2000
    response = login(client, "inspector")  # the right password, still inside the pause
    assert response.status_code == 401 and "登录失败次数过多" in response.get_data(as_text=True)
    time.sleep(app.extensions["redis"].pttl(key) / 1000 + 0.05)
    assert login(client, "inspector").status_code == 302  # the pause has run out: the right password is let in
    assert client.get("/console/").status_code == 200
    assert app.extensions["redis"].exists(key) == 0  # and the success forgot the failures


def test_an_unknown_user_gets_the_same_message_as_a_wrong_password(client, staff):
    response = login(client, "nobody", "whatever-pass")
    assert response.status_code == 401 and "用户名或密码错误" in response.get_data(as_text=True)


def test_a_login_with_a_forged_or_missing_csrf_token_is_refused(client, staff):
    csrf_from(client)  # a session exists, but the token sent is not its token
    forged = client.post("/console/login", data={"username": "admin", "password": PASSWORDS["admin"],
                                                 "csrf_token": "forged"})
    missing = client.post("/console/login", data={"username": "admin", "password": PASSWORDS["admin"]})
    assert forged.status_code == 400 and missing.status_code == 400
    assert client.get("/console/").status_code == 302


def test_a_console_action_with_a_forged_csrf_token_changes_nothing(app, as_role):
    from tests.factories import report

    r = report()
    c = as_role("dispatcher")
    response = c.post(f"/console/cases/{r.id}/actions/register", data={"csrf_token": "forged", "expected_version": 1})
    assert response.status_code == 400
    db.session.expire_all()
    assert db.session.get(type(r), r.id).status == "reported"


def test_logout_ends_the_session_and_needs_a_post_with_the_token(as_role):
    c = as_role("admin")
    assert c.get("/console/logout").status_code == 405
    assert c.post("/console/logout").status_code == 400  # no CSRF token
    token = csrf_from(c, "/console/")
    assert c.post("/console/logout", data={"csrf_token": token}).status_code == 302
    assert c.get("/console/").status_code == 302


def test_the_session_cookie_is_httponly_and_samesite_and_secure_outside_development(app, tmp_path, staff):
    c = app.test_client()
    cookie = login(c, "admin").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    prod = create_app(
        make_config(tmp_path, APP_ENV="production", SECRET_KEY="s" * 32, WECHAT_TOKEN="t", WECHAT_APP_ID="wx1",
                    WECHAT_APP_SECRET="s")
    )
    assert prod.config["SESSION_COOKIE_SECURE"] is True
    with prod.test_request_context("/"):
        from flask import session

        session["x"] = 1
        response = prod.make_response("ok")
        prod.session_interface.save_session(prod, session, response)
        assert "Secure" in response.headers["Set-Cookie"]


def test_non_admins_cannot_open_the_admin_pages(as_role):
    for role in ("dispatcher", "handler", "inspector"):
        assert as_role(role).get("/console/admin/categories").status_code == 403
