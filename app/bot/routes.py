"""The WeChat webhook (`/wechat`) and the WeChat OAuth entry of the citizen H5 pages (`/points/login`).

The webhook is thin: verify → decrypt → parse → record/dedup/dispatch (app.bot.inbound) → reply. Nothing slow runs
here: media downloads and API calls are rq jobs. WECHAT_MESSAGE_MODE decides what is accepted: safe (the default when
an EncodingAESKey is set) refuses plain pushes; plain refuses encrypted ones; compatible takes both. A plain push's
signature does not cover its body, so each signed query is bound to the body it first came with (check_replay).
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, current_app, redirect, request, session, url_for
from redis.exceptions import RedisError

from app.bot import protocol, staff_bind
from app.bot.inbound import handle_push
from app.extensions import csrf, get_redis

bp = Blueprint("bot", __name__)
csrf.exempt(bp)
bp.register_blueprint(staff_bind.bp)  # GET only: the exemption above protects nothing there

OAUTH_STATE_KEY = "wechat_oauth_state"


def _text(body: str, status: int = 200) -> Response:
    return Response(body, status=status, mimetype="text/plain")


def _mode() -> str:
    try:
        return protocol.message_mode(current_app.config.get("WECHAT_MESSAGE_MODE"),
                                     current_app.config["WECHAT_ENCODING_AES_KEY"])
    except ValueError as exc:
        current_app.logger.error("wechat: %s", exc)
        raise protocol.ProtocolError("webhook misconfigured", 500) from exc


def _encrypted(mode: str, args, fields: dict[str, str]) -> bool:
    """Whether to treat the push as encrypted; in plain mode an encrypted push is refused."""
    encrypted = args.get("encrypt_type") == "aes" or ("Encrypt" in fields and "MsgType" not in fields)
    if mode == "plain":
        if encrypted:
            raise protocol.ProtocolError("encrypted push but the account is in plain mode", 400)
        return False
    return encrypted or "Encrypt" in fields  # safe/compatible: an Encrypt element is always what counts


def _check_replay(timestamp: str, nonce: str, sig: str, body: bytes, max_skew_s: int) -> None:
    """Plain pushes only (their signature does not cover the body); if Redis is away the push is let through."""
    try:
        protocol.check_replay(get_redis(), timestamp, nonce, sig, body, max_skew_s)
    except RedisError as exc:
        current_app.logger.warning("wechat: replay check skipped, Redis failed: %s", exc)


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
        mode = _mode()
        if (request.content_length or 0) > cfg["WECHAT_MAX_BODY_BYTES"]:
            raise protocol.ProtocolError("body too large", 413)
        body = request.stream.read(cfg["WECHAT_MAX_BODY_BYTES"] + 1)
        if len(body) > cfg["WECHAT_MAX_BODY_BYTES"]:
            raise protocol.ProtocolError("body too large", 413)
        fields = protocol.parse_xml(body)
        reply_key = None
        if _encrypted(mode, args, fields):
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
        else:
            if mode == "safe":
                raise protocol.ProtocolError("plain push refused: the account is in safe mode", 403)
            _check_replay(timestamp, nonce, args.get("signature", ""), body, cfg["WECHAT_MAX_SKEW_S"])
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
