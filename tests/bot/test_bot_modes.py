"""WECHAT_MESSAGE_MODE (plain | compatible | safe) and the plain-mode replay guard: a signed query bound to its body."""

from __future__ import annotations

import pytest

from app.bot.protocol import message_mode
from tests.bot.test_bot_webhook import HELP_START, inbound_count
from tests.bot.wechat_wire import message_xml
from tests.conftest import ON_POSTGRES, REDIS_URL


def test_safe_mode_is_the_default_with_an_aes_key_and_compatible_is_only_explicit():
    assert message_mode("", "k" * 43) == "safe"
    assert message_mode(None, "") == "plain"
    assert message_mode("Compatible", "k" * 43) == "compatible"
    with pytest.raises(ValueError, match="needs WECHAT_ENCODING_AES_KEY"):
        message_mode("safe", "")
    with pytest.raises(ValueError, match="plain, compatible or safe"):
        message_mode("open", "k" * 43)


def test_in_safe_mode_a_plain_push_is_refused_and_nothing_is_recorded(app, make_citizen):
    app.config["WECHAT_MESSAGE_MODE"] = ""  # the default: safe, since the AES key is set
    c = make_citizen()
    res = c.wechat.push({**c.base("text"), "Content": "帮助", "MsgId": 7001})
    assert res.status_code == 403 and "safe mode" in res.text
    # nor a compatible-looking envelope without encrypt_type, nor one whose plaintext differs from its Encrypt
    body = message_xml({**c.base("text"), "Content": "帮助", "MsgId": 7002})
    assert c.wechat.raw(body.encode(), {**c.wechat.query(), "encrypt_type": "none"}).status_code == 403
    assert inbound_count() == 0
    safe = make_citizen("safe")
    assert safe.wechat.reply(safe.wechat.push({**safe.base("text"), "Content": "帮助", "MsgId": 7003})).startswith(
        HELP_START)
    compat = make_citizen("compat")
    assert compat.wechat.reply(compat.wechat.push({**compat.base("text"), "Content": "帮助", "MsgId": 7004}))


def test_in_plain_mode_an_encrypted_push_is_refused(app, make_citizen):
    app.config["WECHAT_MESSAGE_MODE"] = "plain"
    c = make_citizen("safe")
    assert c.wechat.push({**c.base("text"), "Content": "帮助", "MsgId": 7101}).status_code == 400
    assert inbound_count() == 0


def test_a_misconfigured_mode_is_a_server_error_not_an_open_door(app, make_citizen):
    app.config["WECHAT_MESSAGE_MODE"] = "open"
    c = make_citizen()
    assert c.wechat.push({**c.base("text"), "Content": "帮助", "MsgId": 7201}).status_code == 500
    assert inbound_count() == 0


@pytest.mark.parametrize("mode", ["plain", "compatible"])
def test_a_signed_plain_query_replayed_with_another_body_is_refused_but_wechats_retry_works(app, make_citizen,
                                                                                           mode):
    app.config["WECHAT_MESSAGE_MODE"] = mode
    if mode == "plain":
        app.config["WECHAT_ENCODING_AES_KEY"] = ""
    c = make_citizen()
    params = c.wechat.query(nonce="captured1")
    first = message_xml({**c.base("text"), "Content": "帮助", "MsgId": 7301}).encode()
    answer = c.wechat.raw(first, params)
    assert answer.status_code == 200 and HELP_START in answer.text
    forged = message_xml({**c.base("text"), "Content": "我的举报", "MsgId": 7302}).encode()
    refused = c.wechat.raw(forged, params)
    assert refused.status_code == 403 and "replayed" in refused.text
    again = c.wechat.raw(first, params)  # WeChat's own retry: the same query and the same body
    assert again.status_code == 200 and HELP_START in again.text
    assert inbound_count() == 1
    other = c.wechat.raw(forged, c.wechat.query(nonce="fresh2"))  # the same body under its own signed query
    assert other.status_code == 200


@pytest.mark.skipif(not (ON_POSTGRES and REDIS_URL), reason="the budget is for PostgreSQL + Redis (CI's second pass)")
def test_a_safe_mode_push_keeps_the_two_redis_round_trips(app, make_citizen, round_trips):
    """The replay guard is for plain pushes only: in safe mode msg_signature covers the encrypted body."""
    from app.reports.categories import suggest_category

    app.config.update(WECHAT_MESSAGE_MODE="safe", BOT_REPLY_FLUSH_INTERVAL_S=300, INDEX_CHECK_INTERVAL_S=60)
    suggest_category("路灯")
    c = make_citizen("safe")
    c.text("帮助", msg_id=7401)
    round_trips.reset()
    assert c.text("帮助", msg_id=7402)
    assert (round_trips.sql, round_trips.redis) == (1, 2)
