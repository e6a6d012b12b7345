"""POST /api/mp/login: code2Session through the fake WeChat API, our own token, WeChat's errors made clear."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from app.citizens.models import Citizen
from app.extensions import db
from app.mp import tokens
from tests import factories


def test_a_code_gives_our_own_token_and_never_the_session_key(client, fake_wechat, mini):
    phone = mini(login=False)
    res = phone.login()
    body = res.get_json()
    assert set(body) == {"token", "expires_in"} and body["expires_in"] == 7200
    assert "SK_" not in res.get_data(as_text=True)
    assert fake_wechat.sent("sns/jscode2session")[0].params["appid"] == "wxdevminiprogram0"
    assert phone.get("/api/mp/reports").status_code == 200
    citizen = db.session.scalar(select(Citizen).where(Citizen.mp_openid == phone.mp_openid))
    assert citizen.openid is None and not citizen.subscribed


@pytest.mark.parametrize(("errcode", "status", "code"), [(40029, 400, "invalid_code"), (45011, 429, "too_frequent"),
                                                         (40226, 403, "user_blocked"), (-1, 503, "wechat_busy")])
def test_wechats_login_errors_become_clear_answers(client, fake_wechat, errcode, status, code):
    fake_wechat.fail_next("sns/jscode2session", errcode)
    res = client.post("/api/mp/login", json={"code": fake_wechat.add_mp_code("oMpErr")})
    assert res.status_code == status and res.get_json()["error"] == code and res.get_json()["message"]
    assert db.session.scalar(select(func.count()).select_from(Citizen)) == 0


def test_an_unknown_or_reused_code_is_400_and_wechat_not_answering_is_503(app, client, fake_wechat):
    code = fake_wechat.add_mp_code("oMpOnce")
    assert client.post("/api/mp/login", json={"code": code}).status_code == 200
    assert client.post("/api/mp/login", json={"code": code}).status_code == 400
    app.config["WECHAT_HTTP_TIMEOUT_S"] = 0.3
    fake_wechat.fail_next("sns/jscode2session", "timeout")
    res = client.post("/api/mp/login", json={"code": fake_wechat.add_mp_code("oMpSlow")})
    assert res.status_code == 503 and res.get_json()["error"] == "wechat_unavailable"


@pytest.mark.parametrize("body", [None, {}, {"code": ""}, {"code": 5}, {"code": "x" * 200}, ["code"]])
def test_a_login_without_a_proper_code_is_400(client, fake_wechat, body):
    res = client.post("/api/mp/login", json=body) if body is not None else client.post("/api/mp/login", data="x")
    assert res.status_code == 400 and res.get_json()["error"] == "invalid_request"
    assert not fake_wechat.sent("sns/jscode2session")


def test_a_unionid_links_the_mini_program_to_the_accounts_citizen(client, fake_wechat, mini):
    account = factories.citizen("oAccountOpenid01")
    account.unionid = "UNION_ONE_PERSON"
    db.session.commit()
    phone = mini(unionid="UNION_ONE_PERSON")
    report = factories.report(citizen_id=account.id)  # reported through the account's chat
    db.session.commit()
    cases = phone.get("/api/mp/reports").get_json()["reports"]
    assert [c["case_number"] for c in cases] == [report.case_number]
    db.session.expire_all()
    assert db.session.get(Citizen, account.id).mp_openid == phone.mp_openid
    assert db.session.scalar(select(func.count()).select_from(Citizen)) == 1


def test_the_same_person_logging_in_from_two_phones_at_once_is_one_citizen(app, fake_wechat):
    codes = [fake_wechat.add_mp_code("oMpTwice") for _ in range(6)]
    statuses = []

    def login(code):
        statuses.append(app.test_client().post("/api/mp/login", json={"code": code}).status_code)

    db.session.commit()
    threads = [threading.Thread(target=login, args=(c,)) for c in codes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 6
    assert db.session.scalar(select(func.count()).select_from(Citizen).where(Citizen.mp_openid == "oMpTwice")) == 1


@pytest.mark.parametrize("header", ["", "Bearer ", "Bearer forged.token.value", "Basic abc", "Bearer " + "x" * 600])
def test_missing_or_forged_tokens_are_401(client, fake_wechat, header):
    res = client.get("/api/mp/reports", headers={"Authorization": header} if header else {})
    assert res.status_code == 401 and res.get_json()["error"] == "unauthorized"
    assert res.headers["WWW-Authenticate"] == "Bearer"


def test_a_token_signed_with_another_key_or_for_another_citizen_or_expired_or_revoked_is_401(app, client, mini):
    from itsdangerous import URLSafeTimedSerializer

    phone = mini()
    sid_token = URLSafeTimedSerializer("not-our-secret", salt=tokens.SALT).dumps({"c": 1, "s": "abc"})
    assert client.get("/api/mp/reports", headers={"Authorization": f"Bearer {sid_token}"}).status_code == 401
    # a validly signed token whose session names another citizen
    data = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=tokens.SALT).loads(phone.token)
    other = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=tokens.SALT).dumps({"c": data["c"] + 1,
                                                                                     "s": data["s"]})
    assert client.get("/api/mp/reports", headers={"Authorization": f"Bearer {other}"}).status_code == 401
    app.config["MP_TOKEN_TTL_S"] = -1  # every token is now older than its lifetime
    assert phone.get("/api/mp/reports").status_code == 401
    app.config["MP_TOKEN_TTL_S"] = 7200
    assert phone.get("/api/mp/reports").status_code == 200
    assert tokens.revoke(phone.token)
    assert phone.get("/api/mp/reports").status_code == 401
