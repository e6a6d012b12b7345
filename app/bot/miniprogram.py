"""The mini-program side of WeChat: code2Session and a client with the mini-program's own AppID and secret.

Both go to WECHAT_API_BASE_URL (the fake in tests and development), with the same timeout as every WeChat call. The
session_key WeChat returns never leaves this module: callers get the openid and unionid only.
"""

from __future__ import annotations

from dataclasses import dataclass

import requests
from flask import current_app

from app.bot.client import BotWeChatClient
from app.extensions import get_redis

# WeChat's code2Session errors and what we answer the mini-program: (HTTP status, error code, message).
LOGIN_ERRORS = {
    40029: (400, "invalid_code", "登录凭证无效或已过期，请重新登录"),
    40163: (400, "invalid_code", "登录凭证已被使用，请重新登录"),
    45011: (429, "too_frequent", "登录过于频繁，请稍后再试"),
    40226: (403, "user_blocked", "该微信账号存在风险，暂时无法登录"),
    -1: (503, "wechat_busy", "微信服务繁忙，请稍后再试"),
}


class MiniProgramLoginFailed(Exception):
    """code2Session refused the code (or WeChat did not answer): an HTTP status, a code and a message."""

    def __init__(self, status: int, code: str, message: str, errcode: int | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.errcode = status, code, message, errcode


@dataclass(frozen=True)
class MiniProgramUser:
    """Who wx.login's code belongs to (no session_key: it stays here)."""

    openid: str
    unionid: str | None


def code_to_session(code: str) -> MiniProgramUser:
    """Exchange a wx.login() code for the user's mini-program openid (and unionid) with code2Session."""
    cfg = current_app.config
    if not cfg.get("WECHAT_MP_APP_ID") or not cfg.get("WECHAT_MP_APP_SECRET"):
        raise MiniProgramLoginFailed(503, "not_configured", "小程序登录未配置")
    try:
        res = requests.get(  # nosec B113 - the timeout is the setting below (bandit reads literals only)
            cfg["WECHAT_API_BASE_URL"] + "sns/jscode2session",
            params={"appid": cfg["WECHAT_MP_APP_ID"], "secret": cfg["WECHAT_MP_APP_SECRET"], "js_code": code,
                    "grant_type": "authorization_code"},
            timeout=cfg["WECHAT_HTTP_TIMEOUT_S"],
        )
        res.raise_for_status()
        body = res.json()
    except (requests.RequestException, ValueError) as exc:
        raise MiniProgramLoginFailed(503, "wechat_unavailable", "暂时无法连接微信，请稍后再试") from exc
    errcode = body.get("errcode") or 0
    if errcode or not body.get("openid"):
        status, code_name, message = LOGIN_ERRORS.get(errcode, (502, "wechat_error", "微信登录失败，请稍后再试"))
        raise MiniProgramLoginFailed(status, code_name, message, errcode)
    return MiniProgramUser(openid=body["openid"], unionid=body.get("unionid") or None)


def mp_client() -> BotWeChatClient:
    """A client with the mini-program's credentials (its own access_token, shared in Redis like the account's)."""
    cfg = current_app.config
    client = BotWeChatClient(cfg["WECHAT_MP_APP_ID"], cfg["WECHAT_MP_APP_SECRET"], cfg["WECHAT_API_BASE_URL"],
                             get_redis(), cfg["WECHAT_HTTP_TIMEOUT_S"])
    client.wxa.API_BASE_URL = cfg["WECHAT_API_BASE_URL"]  # wechatpy hard-codes api.weixin.qq.com for wxa calls
    return client
