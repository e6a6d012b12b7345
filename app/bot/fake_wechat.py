"""A fake of WeChat's HTTP API on 127.0.0.1, for tests and `flask wechat simulate`.

It implements the endpoints the bot uses (token, stable_token, media/get, custom and template messages, menu,
OAuth code exchange, jsapi ticket) and the mini-program's (code2Session, subscribe messages), records every request
it receives, and can be told to fail the way WeChat does:
expired media (40007), 45015 outside the customer-service window, 40001 for a stale token, or no answer in time.
The app reaches it only through the WECHAT_API_BASE_URL setting.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

ERRORS = {
    40001: "invalid credential, access_token is invalid or not latest",
    40007: "invalid media_id",
    40029: "invalid code",
    45015: "response out of time limit or subscription is canceled",
    40125: "invalid appsecret",
    40226: "high risk user",
    43101: "user refuse to accept the msg",
    45011: "api minute-quota reach limit mustslower retry next minute",
}


@dataclass
class Received:
    """One request the fake received."""

    method: str
    path: str
    params: dict[str, str]
    body: dict | None
    at: float = field(default_factory=time.time)


class FakeWeChat:
    """The fake's state: tokens, media, recorded requests and queued failures. Thread-safe."""

    def __init__(self, appid: str = "wxdevappid0000000", secret: str = "dev-wechat-secret",  # noqa: S107 (a fake)
                 mp_appid: str = "wxdevminiprogram0", mp_secret: str = "dev-mp-secret"):  # noqa: S107
        self.appid = appid
        self.secret = secret
        self.mp_appid, self.mp_secret = mp_appid, mp_secret
        self.mp_codes: dict[str, tuple[str, str | None]] = {}  # wx.login code -> (mini-program openid, unionid)
        self.consents: dict[str, int] = {}  # mini-program openid -> subscribe messages it may still receive
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.media: dict[str, tuple[bytes, str]] = {}
        self.expired_media: set[str] = set()
        self.outside_window: set[str] = set()  # openids for which custom messages answer 45015
        self.oauth_codes: dict[str, str] = {}  # code -> openid
        self.valid_tokens: set[str] = set()
        self.stable_token: str | None = None
        self.token_fetches = 0
        self.tickets: list[str] = []  # jsapi tickets issued, oldest first
        self.failures: dict[str, list[str | int]] = {}  # path -> queued "timeout" or errcodes
        self.delay_s = 0.0
        self.timeout_sleep_s = 3.0
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    # --------------------------------------------------------------------- control
    @property
    def base_url(self) -> str:
        """The URL to put in WECHAT_API_BASE_URL."""
        assert self.server is not None, "fake not started"
        return f"http://127.0.0.1:{self.server.server_port}/"

    def start(self, port: int = 0) -> FakeWeChat:
        """Serve on 127.0.0.1 in a daemon thread."""
        handler = type("Handler", (_Handler,), {"fake": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def add_media(self, data: bytes, content_type: str = "image/jpeg", media_id: str | None = None) -> str:
        """Store a medium as if a citizen had uploaded it; returns its MediaId."""
        media_id = media_id or "MEDIA_" + secrets.token_hex(12)
        with self.lock:
            self.media[media_id] = (data, content_type)
        return media_id

    def expire_media(self, media_id: str) -> None:
        """Make a medium answer 40007 (temporary media live three days)."""
        self.expired_media.add(media_id)

    def fail_next(self, path: str, *failures: str | int) -> None:
        """Queue failures (errcodes or "timeout") for the next requests to `path`, e.g. cgi-bin/message/custom/send."""
        with self.lock:
            self.failures.setdefault(path.strip("/"), []).extend(failures)

    def invalidate_tokens(self) -> None:
        """Every issued token becomes stale (answers 40001) until a new one is fetched with force_refresh."""
        with self.lock:
            self.valid_tokens.clear()

    def add_oauth_code(self, openid: str) -> str:
        """A one-time OAuth code for `openid`."""
        code = "CODE_" + secrets.token_hex(8)
        self.oauth_codes[code] = openid
        return code

    def add_mp_code(self, mp_openid: str, unionid: str | None = None) -> str:
        """A one-time wx.login() code for a mini-program user."""
        code = "MPCODE_" + secrets.token_hex(8)
        self.mp_codes[code] = (mp_openid, unionid)
        return code

    def consent(self, mp_openid: str, times: int = 1) -> None:
        """The user tapped 「允许」 in wx.requestSubscribeMessage: `times` more messages may be sent."""
        with self.lock:
            self.consents[mp_openid] = self.consents.get(mp_openid, 0) + times

    def subscribe_messages_to(self, mp_openid: str) -> list[dict]:
        """Subscribe messages delivered to a mini-program user."""
        with self.lock:
            return [r.body for r in self.received if r.path == "cgi-bin/message/subscribe/send" and r.body
                    and r.body.get("touser") == mp_openid and r.body.get("_delivered")]

    def sent(self, path: str | None = None) -> list[Received]:
        """Requests received (optionally only those to `path`)."""
        with self.lock:
            return [r for r in self.received if path is None or r.path == path.strip("/")]

    def messages_to(self, openid: str) -> list[dict]:
        """Custom and template messages delivered to `openid` (bodies of successful sends)."""
        paths = ("cgi-bin/message/custom/send", "cgi-bin/message/template/send")
        with self.lock:
            return [
                r.body
                for r in self.received
                if r.path in paths and r.body and r.body.get("touser") == openid and r.body.get("_delivered")
            ]

    # --------------------------------------------------------------------- behaviour
    def _new_token(self) -> str:
        token = "TOKEN_" + secrets.token_hex(16)
        self.valid_tokens.add(token)
        self.token_fetches += 1
        return token

    def handle(self, method: str, path: str, params: dict[str, str], body: dict | None):
        """Answer one request: (status, content_type, bytes)."""
        rec = Received(method, path, params, body)
        with self.lock:
            self.received.append(rec)
            queued = self.failures.get(path) or []
            failure = queued.pop(0) if queued else None
        if self.delay_s:
            time.sleep(self.delay_s)
        if failure == "timeout":
            time.sleep(self.timeout_sleep_s)
            return _json({"errcode": -1, "errmsg": "system busy"})
        if isinstance(failure, int):
            return _json({"errcode": failure, "errmsg": ERRORS.get(failure, "injected error")})
        if path == "cgi-bin/token":
            if params.get("appid") != self.appid or params.get("secret") != self.secret:
                return _json({"errcode": 40125, "errmsg": ERRORS[40125]})
            with self.lock:
                return _json({"access_token": self._new_token(), "expires_in": 7200})
        if path == "cgi-bin/stable_token":
            body = body or {}
            pair = (body.get("appid"), body.get("secret"))
            if pair not in ((self.appid, self.secret), (self.mp_appid, self.mp_secret)):
                return _json({"errcode": 40125, "errmsg": ERRORS[40125]})
            with self.lock:
                if body.get("force_refresh") or self.stable_token not in self.valid_tokens:
                    self.stable_token = self._new_token()
                return _json({"access_token": self.stable_token, "expires_in": 7200})
        if path == "sns/jscode2session":
            user = self.mp_codes.pop(params.get("js_code", ""), None)
            if user is None or params.get("appid") != self.mp_appid or params.get("secret") != self.mp_secret:
                return _json({"errcode": 40029, "errmsg": ERRORS[40029]})
            answer = {"openid": user[0], "session_key": "SK_" + secrets.token_hex(8)}
            return _json(answer | ({"unionid": user[1]} if user[1] else {}))
        if path == "sns/oauth2/access_token":
            openid = self.oauth_codes.pop(params.get("code", ""), None)
            if openid is None or params.get("appid") != self.appid:
                return _json({"errcode": 40029, "errmsg": ERRORS[40029]})
            return _json(
                {
                    "access_token": "OAUTH_" + secrets.token_hex(8),
                    "expires_in": 7200,
                    "refresh_token": "R",
                    "openid": openid,
                    "scope": "snsapi_base",
                }
            )
        if path.startswith("cgi-bin/") and params.get("access_token") not in self.valid_tokens:
            return _json({"errcode": 40001, "errmsg": ERRORS[40001]})
        if path == "cgi-bin/media/get":
            media_id = params.get("media_id", "")
            if media_id in self.expired_media or media_id not in self.media:
                return _json({"errcode": 40007, "errmsg": ERRORS[40007]})
            data, ctype = self.media[media_id]
            return 200, ctype, data
        if path == "cgi-bin/message/custom/send":
            if (body or {}).get("touser") in self.outside_window:
                return _json({"errcode": 45015, "errmsg": ERRORS[45015]})
            rec.body = dict(body or {}, _delivered=True)
            return _json({"errcode": 0, "errmsg": "ok"})
        if path == "cgi-bin/message/template/send":
            rec.body = dict(body or {}, _delivered=True)
            return _json({"errcode": 0, "errmsg": "ok", "msgid": int(time.time() * 1000)})
        if path == "cgi-bin/message/subscribe/send":
            with self.lock:
                touser = (body or {}).get("touser")
                if not self.consents.get(touser):
                    return _json({"errcode": 43101, "errmsg": ERRORS[43101]})
                self.consents[touser] -= 1
            rec.body = dict(body or {}, _delivered=True)
            return _json({"errcode": 0, "errmsg": "ok", "msgid": int(time.time() * 1000)})
        if path == "cgi-bin/menu/create":
            buttons = (body or {}).get("button")
            if not buttons or len(buttons) > 3:
                return _json({"errcode": 40016, "errmsg": "invalid button size"})
            return _json({"errcode": 0, "errmsg": "ok"})
        if path == "cgi-bin/ticket/getticket":
            with self.lock:
                self.tickets.append("TICKET_" + secrets.token_hex(8))
                return _json({"errcode": 0, "errmsg": "ok", "ticket": self.tickets[-1], "expires_in": 7200})
        return 404, "application/json", b'{"errcode": 404, "errmsg": "not found"}'


def _json(data: dict):
    return 200, "application/json; charset=utf-8", json.dumps(data, ensure_ascii=False).encode()


class _Handler(BaseHTTPRequestHandler):
    fake: FakeWeChat

    def log_message(self, format, *args):  # quiet: tests and the simulator print what matters
        pass

    def _serve(self, method: str) -> None:
        url = urlparse(self.path)
        params = {k: v[0] for k, v in parse_qs(url.query).items()}
        body = None
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                body = {"_raw": raw.decode("utf-8", "replace")}
        status, ctype, data = self.fake.handle(method, url.path.strip("/"), params, body)
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout injection)
            pass

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")
