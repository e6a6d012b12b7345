"""WeChat's side of the webhook, written from the protocol description (not with wechatpy, so the library does not
test itself): signatures, AES-256-CBC with the 16-random + length + XML + AppID layout and 32-byte PKCS#7, and pushes
in plain, compatible and safe mode over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import struct
import time
import xml.etree.ElementTree as ET

import requests
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from flask import has_app_context

from app.extensions import db

TOKEN = "test-wechat-token"
APP_ID = "wxtestappid000001"
AES_KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")  # 43 characters, as WeChat shows it
OLD_AES_KEY = base64.b64encode(bytes(range(100, 132))).decode().rstrip("=")
_msg_ids = itertools.count(int(time.time() * 1000))


def sign(*parts: str) -> str:
    """sha1 of the sorted parts, concatenated."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def _key(encoding_aes_key: str) -> bytes:
    return base64.b64decode(encoding_aes_key + "=")


def encrypt(plain_xml: str, encoding_aes_key: str = AES_KEY, app_id: str = APP_ID) -> str:
    """WeChat's message encryption."""
    key = _key(encoding_aes_key)
    body = plain_xml.encode()
    data = os.urandom(16) + struct.pack(">I", len(body)) + body + app_id.encode()
    pad = 32 - len(data) % 32
    data += bytes([pad]) * pad
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(data) + enc.finalize()).decode()


def decrypt(encrypted: str, encoding_aes_key: str = AES_KEY, app_id: str = APP_ID) -> str:
    """The inverse of encrypt; checks the AppID at the end."""
    key = _key(encoding_aes_key)
    dec = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    data = dec.update(base64.b64decode(encrypted)) + dec.finalize()
    data = data[: -data[-1]]
    (length,) = struct.unpack(">I", data[16:20])
    assert data[20 + length :].decode() == app_id
    return data[20 : 20 + length].decode()


def cdata(value) -> str:
    if isinstance(value, int | float):
        return str(value)
    return "<![CDATA[" + str(value).replace("]]>", "]]]]><![CDATA[>") + "]]>"  # how XML carries ]]> in CDATA


def message_xml(fields: dict) -> str:
    """A push document (values are put in CDATA as WeChat does)."""
    return "<xml>" + "".join(f"<{k}>{cdata(v)}</{k}>" for k, v in fields.items()) + "</xml>"


def fields_of(xml_text: str) -> dict[str, str]:
    """Our reply as {tag: text} (a parse error here means the reply XML is broken)."""
    root = ET.fromstring(xml_text)
    return {child.tag: child.text or "" for child in root}


class WeChat:
    """Pushes to the webhook of a live server as WeChat would, for one citizen at a time."""

    def __init__(self, base_url: str, mode: str = "plain", aes_key: str = AES_KEY):
        self.url = base_url + "/wechat"
        self.mode = mode
        self.aes_key = aes_key

    def query(self, timestamp: int | None = None, nonce: str | None = None) -> dict:
        """A signed query; a fresh nonce each time, as WeChat sends (the replay guard binds a query to its body)."""
        ts = str(timestamp if timestamp is not None else int(time.time()))
        nonce = nonce or os.urandom(6).hex()
        return {"timestamp": ts, "nonce": nonce, "signature": sign(TOKEN, ts, nonce)}

    def raw(self, body: bytes | str, params: dict) -> requests.Response:
        """POST a body as is (the test's own transaction is ended first: SQLite's write lock)."""
        if has_app_context():
            db.session.commit()
        return requests.post(self.url, params=params, data=body, timeout=20)

    def push(self, fields: dict, timestamp: int | None = None, mode: str | None = None) -> requests.Response:
        """Sign (and encrypt) a push and POST it."""
        mode = mode or self.mode
        params = self.query(timestamp)
        plain = message_xml(fields)
        if mode == "plain":
            return self.raw(plain.encode(), params)
        encrypted = encrypt(plain, self.aes_key)
        params.update(encrypt_type="aes", msg_signature=sign(TOKEN, params["timestamp"], params["nonce"], encrypted))
        if mode == "compat":
            inner = "".join(f"<{k}>{cdata(v)}</{k}>" for k, v in fields.items())
            body = f"<xml>{inner}<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        else:
            body = f"<xml><ToUserName><![CDATA[gh_test]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        return self.raw(body.encode(), params)

    def reply(self, res: requests.Response) -> str:
        """The text we answered ("" for `success`), decrypting and checking the envelope in the AES modes."""
        assert res.status_code == 200, res.text
        if res.text == "success":
            return ""
        outer = fields_of(res.text)
        if "Encrypt" in outer:
            assert outer["MsgSignature"] == sign(TOKEN, outer["TimeStamp"], outer["Nonce"], outer["Encrypt"])
            outer = fields_of(decrypt(outer["Encrypt"], self.aes_key))
        assert outer["MsgType"] == "text"
        return outer["Content"]


class Citizen:
    """One citizen's phone: sends text, photos, locations, voice and events; returns our reply text."""

    def __init__(self, wechat: WeChat, openid: str, fake=None):
        self.wechat, self.openid, self.fake = wechat, openid, fake

    def base(self, msg_type: str, create_time: int | None = None) -> dict:
        """The fields every push carries."""
        return {
            "ToUserName": "gh_test",
            "FromUserName": self.openid,
            "CreateTime": create_time or int(time.time()),
            "MsgType": msg_type,
        }

    def send(self, msg_type: str, extra: dict, msg_id: int | None = None, **kw) -> str:
        fields = {**self.base(msg_type), **extra, "MsgId": msg_id if msg_id is not None else next(_msg_ids)}
        return self.wechat.reply(self.wechat.push(fields, **kw))

    def text(self, content: str, **kw) -> str:
        return self.send("text", {"Content": content}, **kw)

    def photo(self, data: bytes | None = None, media_id: str | None = None, **kw) -> str:
        if media_id is None:
            from tests.factories import jpeg_bytes

            media_id = self.fake.add_media(data or jpeg_bytes())
        return self.send("image", {"PicUrl": "http://mmbiz.qpic.cn/x", "MediaId": media_id}, **kw)

    def location(self, lat: float, lng: float, label: str = "重庆市江北区观音桥", **kw) -> str:
        return self.send("location", {"Location_X": lat, "Location_Y": lng, "Scale": 15, "Label": label}, **kw)

    def voice(self, recognition: str, **kw) -> str:
        return self.send("voice", {"MediaId": "VOICE1", "Format": "amr", "Recognition": recognition}, **kw)

    def event(self, event: str, create_time: int | None = None, **extra) -> str:
        fields = self.base("event", create_time=create_time)
        fields.update({"Event": event, **extra})
        return self.wechat.reply(self.wechat.push(fields))
