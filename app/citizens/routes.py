"""Staff login and logout pages of the console (endpoint names console.login / console.logout)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, g, redirect, render_template, request

from app.citizens.auth import current_staff, login_staff, logout_staff
from app.citizens.services import LoginRefused, authenticate

bp = Blueprint("console", __name__, url_prefix="/console")

HOME = "/console/"


@bp.before_app_request
def forget_previous_identity():
    """Start every request without a cached identity.

    current_staff() caches the user on `g`, which lives as long as the app context; when several requests share
    one app context (the test client inside an app context, for one) a later request must not inherit it, nor
    the CSRF token of another session.
    """
    g.pop("staff_user", None)
    g.pop("actor", None)
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)  # Flask-WTF caches the token there


def _safe_next(target: str | None) -> str:
    """Only same-site paths under /console: never an open redirect to another host."""
    if not target:
        return HOME
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/console/") or target.startswith("//"):
        return HOME
    return target.rstrip("?") or HOME


@bp.route("/login", methods=["GET", "POST"])
def login():
    """The login form; five wrong passwords lock the account for a while (app.citizens.services.authenticate)."""
    if request.method == "GET" and current_staff() is not None:
        return redirect(_safe_next(request.args.get("next")))
    error = None
    username = ""
    if request.method == "POST":
        username = (request.form.get("username") or "").strip()
        password = request.form.get("password") or ""
        if not username or not password:
            error = "请输入用户名和密码"
        else:
            try:
                user = authenticate(username, password)
            except LoginRefused as exc:
                error = exc.message
            else:
                login_staff(user)
                flash(f"欢迎，{user.display_name or user.username}", "ok")
                return redirect(_safe_next(request.form.get("next") or request.args.get("next")))
    status = 401 if error and request.method == "POST" else 200
    return render_template(
        "console/login.html", error=error, username=username, next=request.args.get("next", "")
    ), status


@bp.route("/logout", methods=["POST"])
def logout():
    """End the session (a POST with the CSRF token, so another site cannot log staff out)."""
    logout_staff()
    flash("已退出登录", "ok")
    return redirect("/console/login")
