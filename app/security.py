"""Security headers on every response (flask-talisman): CSP, frame-ancestors, nosniff, Referrer-Policy, HSTS.

TLS ends at the reverse proxy: the app never redirects to HTTPS itself (health checks and load balancers talk plain
HTTP to its own listener); HSTS goes out on responses to HTTPS requests (directly, or X-Forwarded-Proto: https from
the proxy) in production. No page needs to be framed (WeChat opens pages top-level in its browser, and a mini
program's web-view is not a frame of another site), so frame-ancestors is 'none' everywhere.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask
from flask_talisman import Talisman

from app.config import DEV_ENVS

# The WeChat JS-SDK, loaded by the QR sign pages inside WeChat (its documented address).
WECHAT_JSSDK_ORIGIN = "https://res.wx.qq.com"

talisman = Talisman()


def content_security_policy(app: Flask) -> dict[str, str | list[str]]:
    """The policy: scripts only from our static files (and the JS-SDK), no plugins, no framing by anyone.

    Inline `style=` attributes stay allowed ('unsafe-inline' in style-src only: styles cannot run code); images
    may come from https anywhere (reward pictures, map tiles) and from the configured tile server.
    """
    images = ["'self'", "data:", "blob:", "https:"]
    tiles = app.config.get("MAP_TILE_URL") or ""
    if tiles.startswith("http://"):
        parts = urlsplit(tiles.replace("{s}", "a"))
        images.append(f"{parts.scheme}://{parts.netloc}")
    return {
        "default-src": "'self'",
        "script-src": ["'self'", WECHAT_JSSDK_ORIGIN],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": images,
        "connect-src": "'self'",
        "font-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }


def init_app(app: Flask) -> None:
    """Attach the headers to every response; Secure cookies and HSTS outside development."""
    production = app.config["APP_ENV"] not in DEV_ENVS
    talisman.init_app(
        app,
        force_https=False,  # never: TLS ends at the proxy (docs/deployment.md)
        strict_transport_security=production,
        strict_transport_security_max_age=app.config["HSTS_MAX_AGE_S"],
        strict_transport_security_include_subdomains=False,  # other hosts of the city's domain are not ours
        content_security_policy=content_security_policy(app),
        frame_options="DENY",
        referrer_policy="same-origin",
        session_cookie_secure=app.config["SESSION_COOKIE_SECURE"],
        session_cookie_http_only=True,
        session_cookie_samesite=app.config["SESSION_COOKIE_SAMESITE"],
        x_content_type_options=True,
    )
