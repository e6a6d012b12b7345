"""WeChat OAuth (snsapi_base) for the H5 pages, back to the page that asked (`next`); app/h5/routes.py mounts it.

`GET /h5/login?next=/report?sign=DEMO01` → WeChat's authorize page (WECHAT_OAUTH_AUTHORIZE_URL; in development the
stand-in "sign in as a demo citizen") → `GET /h5/oauth/callback` → the citizen is signed in and sent to `next`.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from flask import Blueprint, abort, current_app, redirect, request, session, url_for

from app.citizens.auth import login_citizen
from app.citizens.services import get_or_create_citizen

bp = Blueprint("oauth", __name__)

STATE_KEY = "h5_oauth_state"
NEXT_KEY = "h5_oauth_next"


def safe_next(value: str | None, default: str = "/report") -> str:
    """A local path to return to: never another host (`//evil`, `https://…`, `/\\evil`)."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")) or len(value) > 500:
        return default
    return value


@bp.get("/h5/login")
def login():
    """Send the citizen through WeChat OAuth and remember where they were going."""
    cfg = current_app.config
    state = secrets.token_urlsafe(16)
    session[STATE_KEY] = state
    session[NEXT_KEY] = safe_next(request.args.get("next"))
    query = urlencode({
        "appid": cfg["WECHAT_APP_ID"],
        "redirect_uri": cfg["PUBLIC_BASE_URL"] + url_for("h5.oauth.callback"),
        "response_type": "code",
        "scope": "snsapi_base",
        "state": state,
    })
    return redirect(f"{cfg['WECHAT_OAUTH_AUTHORIZE_URL']}?{query}#wechat_redirect")


@bp.get("/h5/oauth/callback")
def callback():
    """WeChat's redirect back: check the state, exchange the code for the openid, sign in, go on."""
    from wechatpy.exceptions import WeChatOAuthException

    from app.bot.client import oauth_openid

    expected = session.pop(STATE_KEY, None)
    state, code = request.args.get("state", ""), request.args.get("code", "")
    if not expected or not secrets.compare_digest(expected, state):
        abort(400, description="登录已过期，请重新打开页面")
    if not code:
        abort(400, description="没有获得微信授权")
    try:
        openid = oauth_openid(code)
    except (WeChatOAuthException, OSError, ValueError, KeyError) as exc:
        current_app.logger.warning("h5 wechat oauth failed: %s", exc)
        abort(502, description="微信登录失败，请稍后再试")
    login_citizen(get_or_create_citizen(openid).id)
    return redirect(safe_next(session.pop(NEXT_KEY, None)))
