"""The one WeChat API client: configured base URL, stable_token shared through Redis, a timeout on every call.

wechatpy hard-codes the token URL and keeps `expires_at` per instance, so ten workers would fetch ten tokens (and each
fetch of /cgi-bin/token invalidates the previous one). We override `fetch_access_token` to use /cgi-bin/stable_token
(the same token while it is valid) under a Redis lock, keep the token in Redis with its TTL, and refresh a stale
token (40001/40014/42001) once, with force_refresh, only if no other process has already replaced it.
"""

from __future__ import annotations

import logging

from flask import current_app
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.oauth import WeChatOAuth
from wechatpy.session.redisstorage import RedisStorage

from app.extensions import get_redis

log = logging.getLogger(__name__)

STALE_TOKEN_CODES = {40001, 40014, 42001}
TOKEN_MARGIN_S = 300  # stop using a token five minutes before WeChat does


class BotWeChatClient(WeChatClient):
    """WeChatClient pointed at WECHAT_API_BASE_URL, fetching tokens through stable_token under a Redis lock."""

    def __init__(self, appid, secret, base_url, redis, timeout):
        super().__init__(appid, secret, session=RedisStorage(redis, prefix="wechat"), timeout=timeout, auto_retry=False)
        self.API_BASE_URL = base_url + "cgi-bin/"
        self.base_url = base_url
        self.redis = redis

    def fetch_access_token(self, force_refresh: bool = False, stale: str | None = None) -> dict:
        """Fetch a token with /cgi-bin/stable_token; one process at a time, the others reuse its result."""
        with self.redis.lock(f"wechat:token-lock:{self.appid}", timeout=30, blocking_timeout=self.timeout or 10):
            current = self.session.get(self.access_token_key)
            if current and (not force_refresh or current != stale):
                return {"access_token": current}  # another process refreshed while we waited
            res = self._http.post(
                self.base_url + "cgi-bin/stable_token",
                json={
                    "grant_type": "client_credential",
                    "appid": self.appid,
                    "secret": self.secret,
                    "force_refresh": force_refresh,
                },
                timeout=self.timeout,
            )
            res.raise_for_status()
            result = res.json()
            if result.get("errcode"):
                raise WeChatClientException(result["errcode"], result.get("errmsg"), client=self, response=res)
            ttl = max(60, int(result.get("expires_in", 7200)) - TOKEN_MARGIN_S)
            self.session.set(self.access_token_key, result["access_token"], ttl)
            return result

    def call(self, fn, *args, **kwargs):
        """Run an API call; on a stale-token error refresh the token once (force) and try again."""
        try:
            return fn(*args, **kwargs)
        except WeChatClientException as exc:
            if exc.errcode not in STALE_TOKEN_CODES:
                raise
            stale = self.session.get(self.access_token_key)
            log.info("WeChat said the access token is stale (%s); refreshing", exc.errcode)
            self.fetch_access_token(force_refresh=True, stale=stale)
            return fn(*args, **kwargs)


def get_client() -> BotWeChatClient:
    """A client from the app's settings (cheap: the token lives in Redis, not in the instance)."""
    cfg = current_app.config
    return BotWeChatClient(
        cfg["WECHAT_APP_ID"],
        cfg["WECHAT_APP_SECRET"],
        cfg["WECHAT_API_BASE_URL"],
        get_redis(),
        cfg["WECHAT_HTTP_TIMEOUT_S"],
    )


def download_media(media_id: str) -> bytes:
    """The bytes of a temporary medium; raises WeChatClientException (40007 when expired) or requests errors."""
    client = get_client()
    res = client.call(client.media.download, media_id)
    if isinstance(res, dict):  # an error body wechatpy did not recognise
        raise WeChatClientException(res.get("errcode"), res.get("errmsg"))
    return res.content


def oauth_openid(code: str) -> str:
    """Exchange an OAuth code for the citizen's openid (snsapi_base)."""
    cfg = current_app.config
    oauth = WeChatOAuth(cfg["WECHAT_APP_ID"], cfg["WECHAT_APP_SECRET"], redirect_uri="", scope="snsapi_base")
    oauth.API_BASE_URL = cfg["WECHAT_API_BASE_URL"]
    # WeChatOAuth has no timeout setting: give its session's requests one.
    oauth._http.request = _with_timeout(oauth._http.request, cfg["WECHAT_HTTP_TIMEOUT_S"])
    return oauth.fetch_access_token(code)["openid"]


def _with_timeout(request, timeout: float):
    def wrapped(*args, **kwargs):
        kwargs.setdefault("timeout", timeout)
        return request(*args, **kwargs)

    return wrapped


__all__ = ["BotWeChatClient", "WeChatClientException", "download_media", "get_client", "oauth_openid"]
