"""/metrics and /readyz as an outsider sees them: no public metrics in production, no crash on odd tokens or
methods, no addresses in readiness answers."""

from __future__ import annotations

import redis

from app import create_app
from tests.conftest import make_config

PRODUCTION = {"APP_ENV": "production", "SECRET_KEY": "p" * 32, "WECHAT_TOKEN": "a-real-token",
              "WECHAT_APP_ID": "wx5f3a9c1d2e4b6a80", "WECHAT_APP_SECRET": "a-real-app-secret-value"}


def test_a_non_ascii_metrics_token_is_a_401_not_a_500(app, client):
    app.config["METRICS_TOKEN"] = "s3cret"
    for given in ("令牌", "s3cret\u00e9", "\u00ff" * 6):
        response = client.get("/metrics", headers={"Authorization": f"Bearer {given}".encode().decode("latin-1")})
        assert response.status_code == 401, given


def test_production_refuses_to_serve_metrics_without_a_token(tmp_path):
    prod = create_app(make_config(tmp_path, **PRODUCTION))
    response = prod.test_client().get("/metrics")
    assert response.status_code == 403 and b"baixing_" not in response.data


def test_production_serves_metrics_with_the_configured_token(tmp_path):
    prod = create_app(make_config(tmp_path, **PRODUCTION, METRICS_TOKEN="a-metrics-token-for-prometheus"))
    with prod.app_context():
        from app.extensions import db

        db.create_all()
        c = prod.test_client()
        assert c.get("/metrics").status_code == 401
        ok = c.get("/metrics", headers={"Authorization": "Bearer a-metrics-token-for-prometheus"})
        assert ok.status_code == 200 and b"baixing_queue_depth" in ok.data
        db.session.remove()
        db.engine.dispose()


def test_unknown_http_methods_share_one_label_value(app, client):
    for method in ("XYZZY", "PROPFIND", "BREW", "A" * 40):
        assert client.open("/healthz", method=method).status_code == 405
    body = client.get("/metrics").get_data(as_text=True)
    assert 'method="other"' in body
    for method in ("XYZZY", "PROPFIND", "BREW", "A" * 40):
        assert f'method="{method}"' not in body


def test_readyz_names_the_dependency_that_is_down_but_not_its_address(app, client):
    working = app.extensions["redis"]
    app.extensions["redis"] = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    try:
        response = client.get("/readyz")
    finally:
        app.extensions["redis"] = working
    assert response.status_code == 503
    text = response.get_data(as_text=True)
    assert "redis" in response.json["problems"] and "127.0.0.1" not in text and ":1" not in text


def test_readyz_does_not_show_the_database_address_either(tmp_path):
    down = create_app(make_config(tmp_path, DATABASE_URL="postgresql://someone@127.0.0.1:1/nothing"))
    with down.app_context():
        response = down.test_client().get("/readyz")
        from app.extensions import db

        db.engine.dispose()
    text = response.get_data(as_text=True)
    assert response.status_code == 503 and "database" in response.json["problems"]
    assert "127.0.0.1" not in text and "someone" not in text and "nothing" not in text
