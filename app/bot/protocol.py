"""WeChat's push protocol: signatures (constant time, fresh timestamps), AES modes with key rotation, safe XML.

Parsing uses defusedxml with DTDs forbidden, after a byte-level refusal of any DOCTYPE/ENTITY, so entity tricks
(XXE, billion laughs) are refused before anything is expanded. Replies put user text in CDATA with `]]>` split,
so no text can close the section early.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from wechatpy.crypto import PrpCrypto


class ProtocolError(Exception):
    """A push we refuse; `status` is the HTTP code to answer with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def signature(*parts: str) -> str:
    """WeChat's signature: SHA-1 of the sorted parts concatenated (SHA-1 is the protocol's choice, not ours)."""
    return hashlib.sha1("".join(sorted(parts)).encode(), usedforsecurity=False).hexdigest()


def check_signature(expected: str | None, *parts: str) -> None:
    """Compare in constant time; raise ProtocolError(403) on a mismatch."""
    if not expected or not hmac.compare_digest(signature(*parts).encode(), expected.encode()):
        raise ProtocolError("bad signature", 403)


def check_timestamp(timestamp: str | None, max_skew_s: int, now: float | None = None) -> None:
    """Refuse timestamps older or newer than the allowed skew (replayed or forged pushes)."""
    try:
        ts = int(timestamp or "")
    except ValueError as exc:
        raise ProtocolError("bad timestamp", 403) from exc
    if abs((now or time.time()) - ts) > max_skew_s:
        raise ProtocolError("stale timestamp", 403)


MODES = ("plain", "compatible", "safe")


def message_mode(configured: str | None, encoding_aes_key: str | None) -> str:
    """The account's message mode: WECHAT_MESSAGE_MODE, or safe when an EncodingAESKey is set and plain otherwise.

    Compatible mode (plain and encrypted pushes both accepted) is only ever an explicit choice: it is the transition
    WeChat offers while an account moves to safe mode, and it keeps the plain-mode weakness (below)."""
    mode = (configured or ("safe" if encoding_aes_key else "plain")).strip().lower()
    if mode not in MODES:
        raise ValueError(f"WECHAT_MESSAGE_MODE must be plain, compatible or safe, not {configured!r}")
    if mode != "plain" and not encoding_aes_key:
        raise ValueError(f"WECHAT_MESSAGE_MODE={mode} needs WECHAT_ENCODING_AES_KEY")
    return mode


def replay_key(timestamp: str, nonce: str, sig: str) -> str:
    """The Redis key that remembers one signed plain-mode query for the skew window."""
    return f"bot:seen:{timestamp}:{nonce[:64]}:{sig[:40]}"


def body_digest(body: bytes) -> str:
    """What a remembered query is bound to: the body it first came with."""
    return hashlib.sha256(body).hexdigest()[:32]


def check_replay(redis, timestamp: str, nonce: str, sig: str, body: bytes, max_skew_s: int) -> None:
    """Refuse a signed plain-mode query used again with another body (ProtocolError 403).

    A plain push's signature covers only (token, timestamp, nonce): anyone who sees one signed URL could post any body
    with it while the timestamp is fresh. The first use binds the query to its body's digest (one SET NX GET: one
    round trip); WeChat's own retries repeat the body and pass; another body is refused. The key lives for twice the
    skew, longer than the timestamp can be accepted.
    """
    digest = body_digest(body)
    first = redis.set(replay_key(timestamp, nonce, sig), digest, nx=True, ex=2 * max_skew_s + 1, get=True)
    if first is not None and (first.decode() if isinstance(first, bytes) else first) != digest:
        raise ProtocolError("signed query replayed with another body", 403)


def aes_keys(*encoding_aes_keys: str) -> list[bytes]:
    """32-byte keys from EncodingAESKeys (43 base64 characters each); empty settings are skipped."""
    keys = []
    for k in encoding_aes_keys:
        if k:
            key = base64.b64decode(k + "=")
            if len(key) != 32:
                raise ValueError("an EncodingAESKey must decode to 32 bytes")
            keys.append(key)
    return keys


def decrypt(encrypted: str, keys: list[bytes], app_id: str) -> str:
    """Decrypt with the current key, then the previous one (rotation); wrong keys fail in assorted ways."""
    for key in keys:
        try:
            return PrpCrypto(key).decrypt(encrypted, app_id)
        except Exception:  # noqa: S112 (bad padding, bad length, wrong app id, bad UTF-8: all mean "not this key")
            continue
    raise ProtocolError("cannot decrypt", 400)


def encrypt_reply(xml: str, key: bytes, token: str, app_id: str) -> str:
    """The encrypted reply envelope for safe/compatible mode."""
    encrypted = PrpCrypto(key).encrypt(xml, app_id).decode()
    timestamp, nonce = str(int(time.time())), secrets.token_hex(8)
    sig = signature(token, timestamp, nonce, encrypted)
    return (
        f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt><MsgSignature><![CDATA[{sig}]]></MsgSignature>"
        f"<TimeStamp>{timestamp}</TimeStamp><Nonce><![CDATA[{nonce}]]></Nonce></xml>"
    )


def parse_xml(body: bytes | str) -> dict[str, str]:
    """A flat WeChat XML document as {tag: text}; ProtocolError on anything malformed or hostile."""
    raw = body.encode() if isinstance(body, str) else body
    upper = raw.upper()
    if b"<!DOCTYPE" in upper or b"<!ENTITY" in upper:
        raise ProtocolError("DTDs and entities are not accepted", 400)
    try:
        root = fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise ProtocolError("malformed XML", 400) from exc
    if root.tag != "xml":
        raise ProtocolError("not a WeChat message", 400)
    return {child.tag: (child.text or "").strip() for child in root}


@dataclass(frozen=True)
class Message:
    """An inbound message or event, with the fields the bot uses."""

    fields: dict[str, str]

    @property
    def type(self) -> str:
        return self.fields.get("MsgType", "").lower()

    @property
    def event(self) -> str:
        return self.fields.get("Event", "").lower()

    @property
    def source(self) -> str:
        return self.fields.get("FromUserName", "")

    @property
    def target(self) -> str:
        return self.fields.get("ToUserName", "")

    @property
    def create_time(self) -> int:
        try:
            return int(self.fields.get("CreateTime", "0"))
        except ValueError:
            return 0

    @property
    def msg_id(self) -> str | None:
        return self.fields.get("MsgId") or None

    @property
    def dedup_key(self) -> str:
        """MsgId for messages; FromUserName + CreateTime for events, as WeChat advises (plus the event and its key,
        which a retry repeats, so two different menu clicks in one second stay two)."""
        if self.msg_id:
            return f"msg:{self.msg_id}"
        return f"evt:{self.source}:{self.create_time}:{self.event}:{self.fields.get('EventKey', '')}"[:140]


def to_message(fields: dict[str, str]) -> Message:
    """Check the fields every push carries."""
    msg = Message(fields)
    if not msg.source or not msg.type or len(msg.source) > 64:
        raise ProtocolError("missing FromUserName or MsgType", 400)
    return msg


def cdata(text: str) -> str:
    """Text in CDATA; a `]]>` inside is split across two sections so it cannot end ours."""
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def render_text(to_user: str, from_user: str, content: str) -> str:
    """A passive text reply."""
    return (
        f"<xml><ToUserName>{cdata(to_user)}</ToUserName><FromUserName>{cdata(from_user)}</FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{cdata(content)}</Content></xml>"
    )
