"""Console fixtures: staff users of every role, logged-in test clients, CSRF tokens taken from real pages."""

from __future__ import annotations

import re

import pytest
from werkzeug.security import generate_password_hash

from app.citizens.models import StaffUser
from app.extensions import db
from tests.factories import department_id

PASSWORDS = {
    "admin": "admin-pass-123",
    "dispatcher": "dispatch-pass-123",
    "handler": "handler-pass-123",
    "handler_hxj": "handler2-pass-123",
    "inspector": "inspect-pass-123",
    "moderator": "moderate-pass-123",
}
_CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def staff(app):
    """One staff user per role (the handler belongs to 观音桥街道, handler_hxj to 华新街街道)."""
    users = {}
    # The real KDF (scrypt) costs ~0.15 s per hash; fixtures use a cheap PBKDF2 (the CLI tests use the real one).
    for username, role, dept in (
        ("admin", "admin", None),
        ("dispatcher", "dispatcher", None),
        ("handler", "handler", "JB-S-GYQ"),
        ("handler_hxj", "handler", "JB-S-HXJ"),
        ("inspector", "inspector", None),
        ("moderator", "moderator", None),
    ):
        user = StaffUser(
            username=username,
            role=role,
            department_id=department_id(dept) if dept else None,
            display_name=f"{username}测试",
            password_hash=generate_password_hash(PASSWORDS[username], method="pbkdf2:sha256:1000"),
        )
        db.session.add(user)
        users[username] = user
    db.session.commit()
    return users


def csrf_from(client, path: str = "/console/login") -> str:
    """The CSRF token from a real page of the console."""
    html = client.get(path).get_data(as_text=True)
    match = _CSRF_RE.search(html)
    assert match, f"no csrf token on {path}"
    return match.group(1)


def login(client, username: str, password: str | None = None):
    """Log a test client in through the login form; returns the response."""
    token = csrf_from(client)
    return client.post(
        "/console/login",
        data={"username": username, "password": password or PASSWORDS[username], "csrf_token": token},
    )


@pytest.fixture
def as_role(app, staff):
    """A factory of logged-in test clients: as_role("dispatcher")."""

    def make(username: str):
        c = app.test_client()
        response = login(c, username)
        assert response.status_code == 302, response.get_data(as_text=True)
        return c

    return make
