"""Hypothesis against the webhook: signed pushes of every shape, and raw junk.

Properties: never a server error; a signed, well-formed push is always recorded (one inbound row) and answered with
well-formed XML addressed back to the sender (encrypted in safe mode) or `success`; junk gets a 4xx and records
nothing. Examples per test: HYPOTHESIS_MAX_EXAMPLES (default 120).
"""

from __future__ import annotations

import itertools
import os
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from app.bot import messages as M
from app.bot.models import InboundMessage
from app.extensions import db
from tests.bot.wechat_wire import APP_ID, TOKEN, cdata, decrypt, encrypt, fields_of, message_xml, sign

FUZZ = settings(max_examples=int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "120")), deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
_msg_ids = itertools.count(7_000_000_000)
_create_times = itertools.count(int(time.time()))

# What XML 1.0 can carry (WeChat never sends the rest): no surrogates, no C0 controls but tab and newline.
xml_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\x0b\x0c\x0e\x0f\r"
                                 + "".join(map(chr, range(1, 9))) + "".join(map(chr, range(16, 32))) + "\ufffe\uffff"),
                   max_size=600)
tricky = st.sampled_from(["]]>", "<![CDATA[", "&amp;", "<xml>", "帮助", "取消", "我的举报", "积分", "JB2611230001",
                          "🚧" * 50, "1", "9", " ", "\n", "' OR 1=1 --"])
content = st.one_of(tricky, xml_text, st.lists(st.one_of(tricky, xml_text), max_size=4).map("".join))
number = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**12, 10**12),
                   st.sampled_from(["29.5724", "106.5356", "", "abc", "1e999", "-0"]), xml_text)
# The keys the menu actually pushes (`flask wechat menu push` sends app.bot.messages.menu()), not a list of our own.
MENU_KEYS = [button["key"] for top in M.menu("https://city.example")["button"]
             for button in top.get("sub_button", [top]) if "key" in button]
openid = st.from_regex(r"\Ao[A-Za-z0-9_-]{5,27}\Z")


@st.composite
def pushes(draw) -> dict:
    kind = draw(st.sampled_from(["text", "image", "voice", "location", "event", "video", "link", "other"]))
    # A distinct CreateTime per example: events are deduplicated by sender + CreateTime, as WeChat's retries are.
    fields = {"ToUserName": "gh_test", "FromUserName": draw(openid), "CreateTime": next(_create_times)}
    if kind == "text":
        fields.update(MsgType="text", Content=draw(content))
    elif kind == "image":
        fields.update(MsgType="image", PicUrl=draw(xml_text), MediaId=draw(xml_text))
    elif kind == "voice":
        fields.update(MsgType="voice", MediaId=draw(xml_text), Format="amr", Recognition=draw(content))
    elif kind == "location":
        fields.update(MsgType="location", Location_X=draw(number), Location_Y=draw(number), Scale=draw(number),
                      Label=draw(content))
    elif kind == "event":
        event = draw(st.sampled_from(["subscribe", "unsubscribe", "CLICK", "VIEW", "LOCATION", "SCAN", "weird"]))
        fields.update(MsgType="event", Event=event, EventKey=draw(st.one_of(content, st.sampled_from(MENU_KEYS))))
        if event == "LOCATION":
            fields.update(Latitude=draw(number), Longitude=draw(number), Precision=draw(number))
    else:
        fields.update(MsgType=draw(st.sampled_from(["video", "shortvideo", "link", "music", "x"])), Title=draw(content))
    if kind != "event":
        fields["MsgId"] = next(_msg_ids)
    extra = draw(st.dictionaries(st.from_regex(r"\A[A-Z][A-Za-z]{0,11}\Z"), xml_text, max_size=3))
    return {**{k: v for k, v in extra.items() if k not in fields}, **fields}


def _inbound() -> int:
    n = db.session.scalar(select(func.count()).select_from(InboundMessage))
    db.session.commit()
    return n


def _post(client, body: bytes, params: dict):
    return client.post("/wechat", query_string=params, data=body, content_type="text/xml")


def _signed(fields: dict, safe: bool) -> tuple[bytes, dict]:
    ts, nonce = str(int(time.time())), os.urandom(6).hex()  # WeChat sends a fresh nonce per push
    params = {"timestamp": ts, "nonce": nonce, "signature": sign(TOKEN, ts, nonce)}
    plain = message_xml(fields)
    if not safe:
        return plain.encode(), params
    encrypted = encrypt(plain)
    params.update(encrypt_type="aes", msg_signature=sign(TOKEN, ts, nonce, encrypted))
    envelope = f"<xml><ToUserName>{cdata('gh_test')}</ToUserName><Encrypt>{cdata(encrypted)}</Encrypt></xml>"
    return envelope.encode(), params


@FUZZ
@given(fields=pushes(), safe=st.booleans())
def test_every_signed_push_is_recorded_and_answered_with_well_formed_xml(fuzz_app, fields, safe):
    client = fuzz_app.test_client()
    before = _inbound()
    body, params = _signed(fields, safe)
    res = _post(client, body, params)
    assert res.status_code == 200, (res.status_code, res.get_data(as_text=True)[:300])
    assert _inbound() == before + 1  # recorded, whatever it said
    text = res.get_data(as_text=True)
    if text == "success":
        return
    reply = fields_of(text)  # parses: nothing in the content broke our XML
    if safe:
        assert reply["MsgSignature"] == sign(TOKEN, reply["TimeStamp"], reply["Nonce"], reply["Encrypt"])
        reply = fields_of(decrypt(reply["Encrypt"], app_id=APP_ID))
    assert reply["ToUserName"] == fields["FromUserName"] and reply["FromUserName"] == "gh_test"
    assert reply["MsgType"] == "text" and reply["Content"]


@FUZZ
@given(body=st.one_of(st.binary(max_size=2000), xml_text.map(str.encode),
                      st.builds(lambda inner: f"<xml>{inner}</xml>".encode(), xml_text),
                      st.sampled_from([b"<!DOCTYPE x [<!ENTITY a 'b'>]><xml>&a;</xml>", b"<xml><a>", b"",
                                       b"<?xml version='1.0' encoding='utf-7'?><xml/>", b"\xff\xfe<\x00x\x00"])),
       signed=st.booleans(), query=st.dictionaries(st.sampled_from(["timestamp", "nonce", "signature", "encrypt_type",
                                                                    "msg_signature", "echostr"]), xml_text))
def test_junk_gets_a_client_error_and_records_nothing(fuzz_app, body, signed, query):
    client = fuzz_app.test_client()
    before = _inbound()
    params = dict(query)
    if signed:
        ts = str(int(time.time()))
        params.update(timestamp=ts, nonce="n", signature=sign(TOKEN, ts, "n"))
    res = _post(client, body, params)
    assert 400 <= res.status_code < 500 or res.status_code == 200, res.status_code
    if res.status_code == 200:  # only a signed, parseable push gets here: then it was recorded
        assert signed and _inbound() == before + 1
    else:
        assert _inbound() == before


def test_the_fuzz_fixture_is_the_configured_webhook(fuzz_app):
    """The properties above are only worth something if the pushes reach the real handler."""
    body, params = _signed({"ToUserName": "gh_test", "FromUserName": "oFuzz0001", "CreateTime": int(time.time()),
                            "MsgType": "text", "Content": "帮助", "MsgId": next(_msg_ids)}, safe=False)
    assert "您可以这样使用" in fields_of(_post(fuzz_app.test_client(), body, params).get_data(as_text=True))["Content"]


def test_every_key_the_menu_pushes_gets_its_own_answer(fuzz_app):
    """A click on each button of the real menu reaches its handler: the fixed answers for the fixed ones, and for
    the rest what typing the button's words gives (an unknown key would get the help text)."""
    client, pushed = fuzz_app.test_client(), itertools.count(int(time.time()))

    def reply(**fields) -> str:
        push = {"ToUserName": "gh_test", "FromUserName": "oMenu0001", "CreateTime": next(pushed), **fields}
        if fields["MsgType"] == "text":
            push["MsgId"] = next(_msg_ids)
        return fields_of(_post(client, *_signed(push, safe=False)).get_data(as_text=True))["Content"]

    def click(key: str) -> str:
        return reply(MsgType="event", Event="CLICK", EventKey=key)

    assert sorted(MENU_KEYS) == ["CANCEL", "HELP", "HOW_TO_REPORT", "MY_POINTS", "MY_REPORTS", "NEARBY"]
    assert click("NO_SUCH_KEY") == M.HELP
    assert (click("HOW_TO_REPORT"), click("HELP"), click("NEARBY")) == (M.WELCOME, M.HELP, M.NEARBY_ASK)
    for key, words in (("MY_REPORTS", "我的举报"), ("MY_POINTS", "我的积分"), ("CANCEL", "取消举报")):
        answer = click(key)
        assert answer == reply(MsgType="text", Content=words) and answer != M.HELP, key
