"""The WeChat JS-SDK for our H5 pages: the jsapi_ticket shared through Redis, and wx.config for a page's URL.

WeChat limits how often a ticket may be fetched, so, like the access_token (app/bot/client.py), there is one ticket
for every process: kept in Redis with WeChat's lifetime minus a margin, fetched by one process at a time under a Redis
lock, with the client's timeout. The periodic `refresh_jsapi_ticket_job` replaces it before it runs out, so a page
rarely waits for WeChat. Domain packages (the sign page in app/poi, the H5 report pages) never import this module:
create_app registers `page_config` as `app.extensions["wechat_jssdk_signer"]` and they call what is there.
"""

from __future__ import annotations

import logging
import secrets
import time

import requests
from flask import Flask, current_app
from redis.exceptions import LockError
from wechatpy.client.api.jsapi import WeChatJSAPI

from app.bot.client import BotWeChatClient, WeChatClientException, get_client
from app.jobs import app_job

log = logging.getLogger(__name__)

TICKET_MARGIN_S = 300  # stop using a ticket five minutes before WeChat does
REFRESH_BEFORE_S = 900  # the periodic job fetches the next ticket when less than this is left
SIGNER_KEY = "wechat_jssdk_signer"


def ticket_key(appid: str) -> str:
    """The Redis key of the shared ticket."""
    return f"wechat:jsapi-ticket:{appid}"


def jsapi_signature(ticket: str, noncestr: str, timestamp: int | str, url: str) -> str:
    """sha1 of "jsapi_ticket=…&noncestr=…&timestamp=…&url=…" (keys in ASCII order), as WeChat's doc defines it."""
    return WeChatJSAPI(None).get_jsapi_signature(noncestr, ticket, timestamp, url)


def _fetch(client: BotWeChatClient, stale: str | None = None) -> str:
    """Fetch a ticket under the lock unless another process already replaced `stale` (or filled an empty key)."""
    redis, key = client.redis, ticket_key(client.appid)
    with redis.lock(f"wechat:jsapi-ticket-lock:{client.appid}", timeout=30, blocking_timeout=client.timeout or 10):
        current = redis.get(key)
        if current is not None and current.decode() != stale:
            return current.decode()
        result = client.call(client.jsapi.get_ticket, "jsapi")
        if result.get("errcode"):
            raise WeChatClientException(result["errcode"], result.get("errmsg"))
        ttl = max(60, int(result.get("expires_in", 7200)) - TICKET_MARGIN_S)
        redis.set(key, result["ticket"], ex=ttl)
        return result["ticket"]


def jsapi_ticket(client: BotWeChatClient | None = None) -> str:
    """The shared ticket: one Redis GET, or one fetch from WeChat when none is kept."""
    client = client or get_client()
    current = client.redis.get(ticket_key(client.appid))
    return current.decode() if current is not None else _fetch(client)


def page_config(url: str) -> dict | None:
    """wx.config's fields for the page at `url` (its fragment dropped); None when WeChat cannot give a ticket now."""
    url = url.split("#", 1)[0]
    try:
        ticket = jsapi_ticket()
    except (WeChatClientException, requests.RequestException, LockError, KeyError, ValueError) as exc:
        log.warning("jssdk: no jsapi_ticket: %s", exc)
        return None
    noncestr, timestamp = secrets.token_urlsafe(12), int(time.time())
    return {
        "appId": current_app.config["WECHAT_APP_ID"],
        "timestamp": timestamp,
        "nonceStr": noncestr,
        "signature": jsapi_signature(ticket, noncestr, timestamp, url),
    }


@app_job
def refresh_jsapi_ticket_job() -> str:
    """Replace the shared ticket when it has less than REFRESH_BEFORE_S left (cron, every minute)."""
    if not current_app.config.get("WECHAT_APP_ID") or not current_app.config.get("WECHAT_APP_SECRET"):
        return "not configured"
    client = get_client()
    key = ticket_key(client.appid)
    if client.redis.ttl(key) > REFRESH_BEFORE_S:
        return "valid"
    current = client.redis.get(key)
    _fetch(client, stale=current.decode() if current is not None else None)
    return "refreshed"


def init_app(app: Flask) -> None:
    """Register the signer the pages use, when the official account is configured."""
    if app.config.get("WECHAT_APP_ID") and app.config.get("WECHAT_APP_SECRET"):
        app.extensions[SIGNER_KEY] = page_config
