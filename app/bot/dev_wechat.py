"""A development stand-in for WeChat, served by the app itself under /dev/wechat/ (development only).

`python3 tasks.py serve` turns it on (DEV_WECHAT=1 with APP_ENV=development): WECHAT_API_BASE_URL then points here,
so tokens, media, notifications, jsapi tickets, code2Session and subscribe messages are answered by the fake in
app/bot/fake_wechat.py instead of failing on api.weixin.qq.com; WECHAT_OAUTH_AUTHORIZE_URL points at
`/dev/wechat/authorize`, a page "sign in as a demo citizen" that /points/login, /report and /me/cases open; and
`/dev/wechat/` lists every message the app sent (JSON at `/dev/wechat/messages.json`, which the simulator reads).
State lives in this process (it is a toy for one developer); create_app never mounts it outside development.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, Flask, abort, current_app, jsonify, redirect, render_template, request

from app.bot.fake_wechat import FakeWeChat
from app.extensions import csrf

bp = Blueprint("dev_wechat", __name__, url_prefix="/dev/wechat")
csrf.exempt(bp)

MESSAGE_PATHS = ("cgi-bin/message/custom/send", "cgi-bin/message/template/send", "cgi-bin/message/subscribe/send")
DEMO_OPENIDS = ("oDemoCitizen0001", "oDemoCitizen0002", "oDemoCitizen0003")


def _fake() -> FakeWeChat:
    return current_app.extensions["dev_wechat"]


@bp.get("/")
def messages_page():
    """Every message the app sent while serving, newest first."""
    return render_template("dev/wechat.html", messages=_messages())


@bp.get("/messages.json")
def messages_json():
    """The same as JSON (?touser=<openid> for one citizen)."""
    touser = request.args.get("touser")
    return jsonify(messages=[m for m in _messages() if not touser or m["touser"] == touser])


def _messages() -> list[dict]:
    out = []
    for r in reversed(_fake().sent()):
        if r.path in MESSAGE_PATHS and r.body:
            kind = r.path.split("/")[2]
            text = (r.body.get("text") or {}).get("content") or r.body.get("data")
            out.append({"kind": kind, "touser": r.body.get("touser"), "delivered": bool(r.body.get("_delivered")),
                        "content": text, "at": r.at})
    return out


@bp.get("/authorize")
def authorize():
    """WeChat's OAuth page, played locally: choose a demo citizen to sign in as."""
    redirect_uri, state = request.args.get("redirect_uri", ""), request.args.get("state", "")
    if not redirect_uri.startswith(current_app.config["PUBLIC_BASE_URL"] + "/"):
        abort(400, description="redirect_uri must be on PUBLIC_BASE_URL")
    return render_template("dev/authorize.html", redirect_uri=redirect_uri, state=state, openids=DEMO_OPENIDS)


@bp.post("/authorize")
def authorize_confirm():
    """Back to the app with a one-time code for the chosen openid."""
    redirect_uri, openid = request.form.get("redirect_uri", ""), (request.form.get("openid") or "").strip()
    if not redirect_uri.startswith(current_app.config["PUBLIC_BASE_URL"] + "/") or not 1 <= len(openid) <= 64:
        abort(400)
    code = _fake().add_oauth_code(openid)
    return redirect(redirect_uri + "?" + urlencode({"code": code, "state": request.form.get("state", "")}))


@bp.route("/<path:path>", methods=["GET", "POST"])
def api(path: str):
    """WeChat's HTTP API, answered by the fake (cgi-bin/…, sns/…)."""
    body = request.get_json(silent=True, force=True) if request.method == "POST" else None
    status, ctype, data = _fake().handle(request.method, path.strip("/"), request.args.to_dict(), body)
    return current_app.response_class(data, status=status, content_type=ctype)


def init_app(app: Flask) -> None:
    """Mount the stand-in in development when DEV_WECHAT is on; never anywhere else."""
    if app.config["APP_ENV"] != "development" or not app.config.get("DEV_WECHAT"):
        return
    cfg = app.config
    app.extensions["dev_wechat"] = FakeWeChat(cfg["WECHAT_APP_ID"], cfg["WECHAT_APP_SECRET"],
                                              cfg.get("WECHAT_MP_APP_ID") or "wxdevminiprogram0",
                                              cfg.get("WECHAT_MP_APP_SECRET") or "dev-mp-secret")
    app.register_blueprint(bp)
