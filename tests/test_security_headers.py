"""Security headers on every response, a CSP the pages pass (no inline script anywhere in app/templates), HSTS and
Secure cookies in production, and no redirect to HTTPS from the app itself (TLS ends at the proxy)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from app import create_app
from tests.conftest import make_config

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "app" / "templates"
PRODUCTION = {"APP_ENV": "production", "SECRET_KEY": "p" * 32, "WECHAT_TOKEN": "a-real-token",
              "WECHAT_APP_ID": "wx5f3a9c1d2e4b6a80", "WECHAT_APP_SECRET": "a-real-app-secret-value"}


def _csp(response) -> dict[str, list[str]]:
    policy = response.headers.get("Content-Security-Policy", "")
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


@pytest.mark.parametrize("path", ["/healthz", "/console/login", "/api/staff/cases", "/no/such/page",
                                  "/static/console/console.css", "/open311/v2/discovery.json"])
def test_every_response_carries_the_security_headers(client, path):
    response = client.get(path)
    csp = _csp(response)
    assert csp.get("frame-ancestors") == ["'none'"], path
    assert csp.get("default-src") == ["'self'"] and csp.get("object-src") == ["'none'"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"
    response.close()


def test_the_csp_allows_no_inline_script_and_no_eval(client):
    script = _csp(client.get("/console/login"))["script-src"]
    assert "'unsafe-inline'" not in script and "'unsafe-eval'" not in script


class _InlineScripts(HTMLParser):
    """Collects what a CSP without 'unsafe-inline' would block: <script> without src, on* handlers, javascript:."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and not attrs.get("src"):
            self.found.append(f"<script> at line {self.getpos()[0]}")
        for name, value in attrs.items():
            if name.startswith("on"):
                self.found.append(f"{name}= at line {self.getpos()[0]}")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"javascript: URL at line {self.getpos()[0]}")


@pytest.mark.parametrize("template", sorted(str(p.relative_to(TEMPLATES)) for p in TEMPLATES.rglob("*.html")))
def test_no_template_has_inline_script(template):
    source = (TEMPLATES / template).read_text(encoding="utf-8")
    parser = _InlineScripts()
    parser.feed(re.sub(r"{%.*?%}|{{.*?}}", "x", source, flags=re.S))
    assert parser.found == [], f"{template}: {parser.found}"


def test_every_script_a_template_loads_is_allowed_by_the_csp(client):
    allowed = _csp(client.get("/healthz"))["script-src"]
    for path in TEMPLATES.rglob("*.html"):
        for src in re.findall(r'<script[^>]*src="([^"]+)"', path.read_text(encoding="utf-8")):
            if src.startswith("http"):
                origin = "/".join(src.split("/")[:3])
                assert origin in allowed, (path.name, src)
            else:
                assert "url_for('static'" in src or src.startswith("/static/"), (path.name, src)


def test_development_has_no_hsts_and_no_secure_cookie(app, client):
    assert "Strict-Transport-Security" not in client.get("/healthz").headers
    assert app.config["SESSION_COOKIE_SECURE"] is False


def test_production_sends_hsts_over_https_and_never_redirects_to_https(tmp_path):
    prod = create_app(make_config(tmp_path, **PRODUCTION, METRICS_TOKEN="t" * 24))
    client = prod.test_client()
    plain = client.get("/healthz", base_url="http://cg.example.gov.cn")
    assert plain.status_code == 200  # plain HTTP still answers: health checks, load balancers
    for response in (client.get("/healthz", base_url="https://cg.example.gov.cn"),
                     client.get("/healthz", headers={"X-Forwarded-Proto": "https"})):
        assert response.status_code == 200
        assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert prod.config["SESSION_COOKIE_SECURE"] is True


def test_the_nginx_example_agrees_with_the_app():
    conf = (ROOT / "deploy" / "nginx" / "baixing.conf").read_text(encoding="utf-8")
    static = conf[conf.index("location /static/"):]
    static = static[: static.index("}")]
    # What nginx serves itself carries the same headers as what the app sends.
    assert 'add_header X-Content-Type-Options "nosniff" always;' in static
    assert 'add_header Strict-Transport-Security "max-age=31536000" always;' in static
    assert 'add_header Referrer-Policy "same-origin" always;' in static
    # The port-80 server redirects to HTTPS (that is the proxy's job, not the app's).
    assert re.search(r"listen 80;.*?return 301 https://\$host\$request_uri;", conf, flags=re.S)
    # And the proxied location does not add a second copy of the app's headers.
    proxied = conf[conf.index("location / {"):]
    assert "add_header" not in proxied[: proxied.index("}")]
