"""Liveness and readiness."""

import redis


def test_healthz_answers_without_dependencies(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_readyz_is_ok_when_database_and_redis_answer(client):
    resp = client.get("/readyz")
    assert resp.status_code == 200
    assert resp.get_json()["status"] == "ok"


def test_readyz_is_503_with_the_reason_when_redis_is_down(app, client):
    working = app.extensions["redis"]
    app.extensions["redis"] = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    try:
        resp = client.get("/readyz")
    finally:
        app.extensions["redis"] = working
    assert resp.status_code == 503
    body = resp.get_json()
    assert "redis" in body["problems"] and "database" not in body["problems"]
