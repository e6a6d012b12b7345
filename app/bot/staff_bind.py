"""Staff bind their WeChat account from the console by OAuth (snsapi_base), to get notifications by template message.

Opened in WeChat's own browser (the console on the staff member's phone): /console/me/wechat/bind → WeChat →
/console/me/wechat/callback, which checks the state and binds the openid. Unbinding is a console form
(app.citizens.routes.wechat_unbind).
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from flask import Blueprint, abort, current_app, flash, g, redirect, request, session, url_for
from wechatpy.exceptions import WeChatOAuthException

from app.bot.client import oauth_openid
from app.citizens.auth import staff_required
from app.citizens.inbox import WeChatAlreadyBound, bind_wechat

bp = Blueprint("staff_wechat", __name__, url_prefix="/console/me/wechat")

STATE_KEY = "staff_wechat_oauth_state"


@bp.route("/bind")
@staff_required()
def bind():
    """Send the logged-in staff user through WeChat OAuth."""
    cfg = current_app.config
    state = secrets.token_urlsafe(16)
    session[STATE_KEY] = state
    query = urlencode(
        {
            "appid": cfg["WECHAT_APP_ID"],
            "redirect_uri": cfg["PUBLIC_BASE_URL"] + url_for(".callback"),
            "response_type": "code",
            "scope": "snsapi_base",
            "state": state,
        }
    )
    return redirect(f"{cfg['WECHAT_OAUTH_AUTHORIZE_URL']}?{query}#wechat_redirect")


@bp.route("/callback")
@staff_required()
def callback():
    """WeChat's redirect back: the state must be this session's, then the code's openid is bound to this user."""
    expected = session.pop(STATE_KEY, None)
    state, code = request.args.get("state", ""), request.args.get("code", "")
    if not expected or not secrets.compare_digest(expected, state):
        abort(400, description="绑定已过期，请重新发起")
    if not code or len(code) > 200:
        abort(400, description="没有获得微信授权")
    try:
        openid = oauth_openid(code)
    except (WeChatOAuthException, OSError, ValueError, KeyError) as exc:
        current_app.logger.warning("staff wechat oauth failed: %s", exc)
        abort(502, description="微信授权失败，请稍后再试")
    try:
        bind_wechat(g.actor.id, openid)
    except WeChatAlreadyBound as exc:
        flash(str(exc), "error")
        return redirect(url_for("console.me"))
    flash("已绑定微信，督办提醒将同时通过微信发送", "ok")
    return redirect(url_for("console.me"))
