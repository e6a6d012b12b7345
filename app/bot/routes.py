"""The WeChat webhook (`/wechat`) and the WeChat OAuth entry of the citizen H5 pages (`/points/login`).

The webhook is thin: verify → decrypt → parse → record/dedup/dispatch (app.bot.inbound) → reply. Nothing slow runs
here: media downloads and API calls are rq jobs.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, current_app, redirect, request, session, url_for

from app.bot import protocol, staff_bind
from app.bot.inbound import handle_push
from app.extensions import csrf

bp = Blueprint("bot", __name__)
csrf.exempt(bp)
bp.register_blueprint(staff_bind.bp)  # GET only: the exemption above protects nothing there

OAUTH_STATE_KEY = "wechat_oauth_state"


def _text(body: str, status: int = 200) -> Response:
    return Response(body, status=status, mimetype="text/plain")


@bp.route("/wechat", methods=["GET", "POST"])
def wechat():
    """WeChat's URL check (GET) and message pushes (POST) in plain, compatible and safe mode."""
    cfg = current_app.config
    token = cfg["WECHAT_TOKEN"]
    args = request.args
    timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
    try:
        protocol.check_timestamp(timestamp, cfg["WECHAT_MAX_SKEW_S"])
        protocol.check_signature(args.get("signature"), token, timestamp, nonce)
        if request.method == "GET":
            return _text(args.get("echostr", ""))
        if (request.content_length or 0) > cfg["WECHAT_MAX_BODY_BYTES"]:
            raise protocol.ProtocolError("body too large", 413)
        body = request.stream.read(cfg["WECHAT_MAX_BODY_BYTES"] + 1)
        if len(body) > cfg["WECHAT_MAX_BODY_BYTES"]:
            raise protocol.ProtocolError("body too large", 413)
        fields = protocol.parse_xml(body)
        reply_key = None
        if args.get("encrypt_type") == "aes" or ("Encrypt" in fields and "MsgType" not in fields):
            encrypted = fields.get("Encrypt", "")
            protocol.check_signature(args.get("msg_signature"), token, timestamp, nonce, encrypted)
            keys = protocol.aes_keys(cfg["WECHAT_ENCODING_AES_KEY"], cfg["WECHAT_PREVIOUS_ENCODING_AES_KEY"])
            if not keys:
                raise protocol.ProtocolError("encrypted push but no EncodingAESKey configured", 400)
            for key in keys:  # reply with the key that worked (WeChat uses it until the rotation completes)
                try:
                    fields = protocol.parse_xml(protocol.decrypt(encrypted, [key], cfg["WECHAT_APP_ID"]))
                    reply_key = key
                    break
                except protocol.ProtocolError:
                    continue
            if reply_key is None:
                raise protocol.ProtocolError("cannot decrypt", 400)
        msg = protocol.to_message(fields)
    except protocol.ProtocolError as exc:
        current_app.logger.warning("wechat push refused: %s", exc)
        return _text(str(exc), exc.status)
    reply = handle_push(msg)
    if not reply:
        return _text("success")
    xml = protocol.render_text(msg.source, msg.target, reply)
    if reply_key is not None:
        xml = protocol.encrypt_reply(xml, reply_key, token, cfg["WECHAT_APP_ID"])
    return Response(xml, mimetype="application/xml")


@bp.route("/points/login")
def points_login():
    """Send the citizen through WeChat OAuth (snsapi_base: the openid, without a consent page)."""
    cfg = current_app.config
    state = secrets.token_urlsafe(16)
    session[OAUTH_STATE_KEY] = state
    query = urlencode(
        {
            "appid": cfg["WECHAT_APP_ID"],
            "redirect_uri": cfg["PUBLIC_BASE_URL"] + url_for("bot.points_oauth_callback"),
            "response_type": "code",
            "scope": "snsapi_base",
            "state": state,
        }
    )
    return redirect(f"{cfg['WECHAT_OAUTH_AUTHORIZE_URL']}?{query}#wechat_redirect")


@bp.route("/points/oauth/callback")
def points_oauth_callback():
    """WeChat's redirect back: check the state, exchange the code for the openid, sign the citizen in."""
    from wechatpy.exceptions import WeChatOAuthException

    from app.bot.client import oauth_openid
    from app.citizens.auth import login_citizen
    from app.citizens.services import get_or_create_citizen

    expected = session.pop(OAUTH_STATE_KEY, None)
    state, code = request.args.get("state", ""), request.args.get("code", "")
    if not expected or not secrets.compare_digest(expected, state):
        abort(400, description="登录已过期，请重新打开页面")
    if not code:
        abort(400, description="没有获得微信授权")
    try:
        openid = oauth_openid(code)
    except (WeChatOAuthException, OSError, ValueError, KeyError) as exc:
        current_app.logger.warning("wechat oauth failed: %s", exc)
        abort(502, description="微信登录失败，请稍后再试")
    citizen = get_or_create_citizen(openid)
    login_citizen(citizen.id)
    return redirect("/points/")
