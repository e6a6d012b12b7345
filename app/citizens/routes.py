"""Staff login and logout pages of the console (console.login / console.logout), the staff inbox and account."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for

from app.citizens import inbox as inbox_service
from app.citizens.auth import current_staff, current_staff_session, login_staff, logout_staff, staff_required
from app.citizens.services import (
    MIN_PASSWORD_CHARS,
    WRONG_MESSAGE,
    LoginRefused,
    WeakPassword,
    authenticate,
    change_password,
)

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
    """Only same-site paths under /console: never an open redirect to another host, nor a header split (CR/LF)."""
    if not target or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return HOME
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/console/") or target.startswith("//"):
        return HOME
    return target.rstrip("?") or HOME


@bp.route("/login", methods=["GET", "POST"])
def login():
    """The login form; LOGIN_MAX_FAILURES wrong passwords pause this client for this username (authenticate)."""
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
                user = authenticate(username, password, request.remote_addr or "")
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


@bp.route("/password", methods=["GET", "POST"])
@staff_required()
def password():
    """Change one's own password (the current one is asked again); the user's other sessions end."""
    error = None
    if request.method == "POST":
        user = current_staff()
        new = request.form.get("new_password") or ""
        if new != (request.form.get("confirm_password") or ""):
            error = "两次输入的新密码不一致"
        else:
            try:
                authenticate(user.username, request.form.get("current_password") or "", request.remote_addr or "")
                change_password(user.id, new, keep_session=current_staff_session())
            except LoginRefused as exc:
                error = "当前密码不正确" if exc.message == WRONG_MESSAGE else exc.message
            except WeakPassword as exc:
                error = str(exc)
            else:
                flash("密码已修改，其他设备上的登录已退出", "ok")
                return redirect(HOME)
    status = 400 if error else 200
    return render_template("console/password.html", error=error, min_chars=MIN_PASSWORD_CHARS), status


# ------------------------------------------------------------------------------------------ the staff inbox


@bp.app_context_processor
def inbox_badge() -> dict:
    """The header's unread count, for any page a logged-in staff user sees."""
    actor = g.get("actor")
    if actor is None or actor.kind != "staff" or actor.id is None:
        return {}
    return {"inbox_unread": inbox_service.unread_count(actor.id)}


@bp.route("/inbox")
@staff_required()
def inbox():
    """The user's own notifications, newest first (?unread=1 for the unread ones only)."""
    unread_only = request.args.get("unread") == "1"
    page = request.args.get("page", "1")
    result = inbox_service.inbox(g.actor.id, unread_only, int(page) if page.isdigit() and len(page) < 6 else 1)
    return render_template("console/inbox.html", inbox=result, unread_only=unread_only)


@bp.route("/inbox/read", methods=["POST"])
@staff_required()
def inbox_read():
    """Mark the chosen notifications read (or all, with all=1); ids of other users' entries do nothing."""
    ids = None if request.form.get("all") == "1" else [int(x) for x in request.form.getlist("id") if x.isdigit()]
    inbox_service.mark_read(g.actor.id, ids)
    return redirect(url_for(".inbox"))


@bp.route("/me")
@staff_required()
def me():
    """The user's own account: WeChat binding for notifications."""
    return render_template("console/me.html", user=current_staff())


@bp.route("/me/wechat/unbind", methods=["POST"])
@staff_required()
def wechat_unbind():
    """Forget the WeChat binding: notifications stay in the console inbox only."""
    inbox_service.unbind_wechat(g.actor.id)
    flash("已解除微信绑定", "ok")
    return redirect(url_for(".me"))
