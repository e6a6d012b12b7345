"""`flask wechat menu push` and `flask wechat simulate` (a terminal chat with the bot, as WeChat would push it)."""

from __future__ import annotations

import base64
import secrets
import shlex
import time
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from app.bot import messages as M
from app.bot import protocol


@click.group("wechat")
def wechat_cli():
    """The WeChat official account."""


@wechat_cli.group("menu")
def menu_cli():
    """The account's custom menu."""


@menu_cli.command("push")
@with_appcontext
def menu_push():
    """Create the custom menu (举报问题 / 我的 / 便民服务) through the API."""
    from app.bot.client import WeChatClientException, get_client

    client = get_client()
    menu = M.menu(current_app.config["PUBLIC_BASE_URL"])
    try:
        client.call(client.menu.create, menu)
    except WeChatClientException as exc:
        raise click.ClickException(f"WeChat refused the menu: {exc.errcode} {exc.errmsg}") from exc
    click.echo("menu pushed: " + " / ".join(b["name"] for b in menu["button"]))


@wechat_cli.group("photos")
def photos_cli():
    """Photos citizens sent through WeChat."""


@photos_cli.command("fetch")
@with_appcontext
def photos_fetch():
    """Enqueue downloads for every WeChat photo still pending (e.g. after Redis was down)."""
    from app.bot.tasks import refetch_pending_photos

    n, cases = refetch_pending_photos()
    click.echo(f"enqueued {n} photo download(s) for {cases} case(s)")


class Simulator:
    """Builds and signs pushes like WeChat (optionally encrypted) and posts them to the app in process."""

    def __init__(self, app, openid: str, encrypt: bool, fake):
        self.app, self.openid, self.encrypt, self.fake = app, openid, encrypt, fake
        self.client = app.test_client()
        self.msg_id = int(time.time() * 1000)
        cfg = app.config
        if encrypt and not cfg.get("WECHAT_ENCODING_AES_KEY"):
            # A throwaway key for this session: safe mode end to end without touching any setting.
            cfg["WECHAT_ENCODING_AES_KEY"] = base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")

    def _fields(self, msg_type: str, **extra) -> dict:
        fields = {
            "ToUserName": "gh_simulator",
            "FromUserName": self.openid,
            "CreateTime": int(time.time()),
            "MsgType": msg_type,
            **extra,
        }
        if msg_type != "event":
            self.msg_id += 1
            fields["MsgId"] = self.msg_id
        return fields

    def push(self, msg_type: str, **extra) -> str:
        """Push one message; the bot's reply text ("" for none)."""
        cfg = self.app.config
        xml = (
            "<xml>"
            + "".join(f"<{k}>{protocol.cdata(str(v))}</{k}>" for k, v in self._fields(msg_type, **extra).items())
            + "</xml>"
        )
        ts, nonce = str(int(time.time())), secrets.token_hex(4)
        query = {"timestamp": ts, "nonce": nonce, "signature": protocol.signature(cfg["WECHAT_TOKEN"], ts, nonce)}
        key = None
        if self.encrypt:
            from wechatpy.crypto import PrpCrypto

            key = protocol.aes_keys(cfg["WECHAT_ENCODING_AES_KEY"])[0]
            encrypted = PrpCrypto(key).encrypt(xml, cfg["WECHAT_APP_ID"]).decode()
            query.update(
                encrypt_type="aes", msg_signature=protocol.signature(cfg["WECHAT_TOKEN"], ts, nonce, encrypted)
            )
            xml = f"<xml><ToUserName>gh_simulator</ToUserName><Encrypt>{protocol.cdata(encrypted)}</Encrypt></xml>"
        res = self.client.post("/wechat", query_string=query, data=xml.encode())
        if res.status_code != 200:
            return f"[HTTP {res.status_code}] {res.get_data(as_text=True)}"
        body = res.get_data(as_text=True)
        if body == "success":
            return ""
        fields = protocol.parse_xml(body)
        if "Encrypt" in fields:
            fields = protocol.parse_xml(protocol.decrypt(fields["Encrypt"], [key], cfg["WECHAT_APP_ID"]))
        return fields.get("Content", "")

    def run_line(self, line: str) -> str | None:
        """One line typed by the user; None to quit."""
        line = line.strip()
        if not line:
            return ""
        if not line.startswith("/"):
            return self.push("text", Content=line)
        parts = shlex.split(line)
        cmd, args = parts[0], parts[1:]
        if cmd in ("/quit", "/exit"):
            return None
        if cmd == "/photo" and args:
            media_id = self.fake.add_media(Path(args[0]).read_bytes())
            return self.push("image", PicUrl="http://mmbiz.qpic.cn/simulated", MediaId=media_id)
        if cmd == "/loc" and len(args) >= 2:
            label = " ".join(args[2:]) or "模拟位置"
            return self.push("location", Location_X=args[0], Location_Y=args[1], Scale=15, Label=label)
        if cmd == "/voice" and args:
            return self.push("voice", MediaId="SIMVOICE", Format="amr", Recognition=" ".join(args))
        if cmd == "/event" and args:
            name = args[0]
            extra = {"EventKey": args[1]} if len(args) > 1 and name.upper() == "CLICK" else {}
            if name.upper() == "LOCATION" and len(args) >= 3:
                extra = {"Latitude": args[1], "Longitude": args[2], "Precision": "30.0"}
            return self.push("event", Event=name, **extra)
        return SIM_HELP


SIM_HELP = (
    "type text, or: /photo FILE | /loc LAT LNG [LABEL] (GCJ-02) | /voice TEXT | /event subscribe|unsubscribe|"
    "CLICK KEY|LOCATION LAT LNG | /quit"
)


@wechat_cli.command("simulate")
@click.option("--openid", default="oSimulatedCitizen", show_default=True, help="The citizen you play.")
@click.option("--encrypt/--plain", default=False, help="Safe (AES) mode instead of plain mode.")
@click.option("--fake-port", default=0, type=int, help="Port of the local fake WeChat API (0: any free port).")
@with_appcontext
def simulate(openid, encrypt, fake_port):
    """Chat with the bot in the terminal; media and outbound messages go through a local fake WeChat API."""
    from app.bot.fake_wechat import FakeWeChat

    app = current_app._get_current_object()
    fake = FakeWeChat(appid=app.config["WECHAT_APP_ID"], secret=app.config["WECHAT_APP_SECRET"]).start(fake_port)
    app.config["WECHAT_API_BASE_URL"] = fake.base_url
    sim = Simulator(app, openid, encrypt, fake)
    click.echo(f"fake WeChat API at {fake.base_url}; you are {openid} ({'safe' if encrypt else 'plain'} mode)")
    click.echo(SIM_HELP)
    seen = 0
    try:
        while True:
            try:
                line = click.prompt("你", prompt_suffix="> ", default="", show_default=False)
            except (EOFError, click.Abort):
                break
            reply = sim.run_line(line)
            if reply is None:
                break
            if reply:
                click.echo("公众号> " + reply.replace("\n", "\n        "))
            sent = fake.messages_to(openid)
            for body in sent[seen:]:
                text = (body.get("text") or {}).get("content") or (body.get("data") or {}).get("first", {}).get("value")
                click.echo("公众号（客服消息）> " + str(text))
            seen = len(sent)
    finally:
        fake.stop()


commands = [wechat_cli]
