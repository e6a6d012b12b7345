"""The webhook over real HTTP: URL check, the three modes, key rotation, refusals, dedup of WeChat's retries."""

from __future__ import annotations

import contextlib
import threading
import time

import pytest
from sqlalchemy import func, select, text

from app.bot.models import InboundMessage
from app.bot.protocol import signature
from app.extensions import db
from tests.bot.wechat_wire import OLD_AES_KEY, WeChat, encrypt, fields_of, message_xml, sign

HELP_START = "您可以这样使用"


@contextlib.contextmanager
def refusing_updates_of(table: str):
    """The database refuses every UPDATE of `table` (a trigger that raises) while the block runs."""
    postgres = db.engine.dialect.name == "postgresql"
    setup = ([
        "CREATE FUNCTION test_refuse_update() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'the database refuses writes'; END $$",
        f"CREATE TRIGGER test_refuse BEFORE UPDATE ON {table} FOR EACH ROW EXECUTE FUNCTION test_refuse_update()",
    ] if postgres else [
        f"CREATE TRIGGER test_refuse BEFORE UPDATE ON {table} BEGIN SELECT RAISE(ABORT, 'the database refuses writes');"
        " END",
    ])
    teardown = ([f"DROP TRIGGER test_refuse ON {table}", "DROP FUNCTION test_refuse_update()"] if postgres
                else ["DROP TRIGGER test_refuse"])
    with db.engine.begin() as conn:
        for statement in setup:
            conn.execute(text(statement))
    try:
        yield
    finally:
        db.session.rollback()
        with db.engine.begin() as conn:
            for statement in teardown:
                conn.execute(text(statement))


def inbound_count() -> int:
    n = db.session.scalar(select(func.count()).select_from(InboundMessage))
    db.session.commit()
    return n


def test_the_signature_matches_wechats_own_example():
    assert signature("AAAAA", "1714036504", "1514711492") == "f464b24fc39322e44b38aa78f5edd27bd1441696"


def test_the_url_check_echoes_echostr_only_with_a_good_signature(wechat):
    import requests

    params = {**wechat.query(), "echostr": "abc123"}
    assert requests.get(wechat.url, params=params, timeout=5).text == "abc123"
    params["signature"] = "0" * 40
    assert requests.get(wechat.url, params=params, timeout=5).status_code == 403


def test_a_plain_text_push_gets_a_text_reply_addressed_back(make_citizen):
    c = make_citizen()
    res = c.wechat.push({**c.base("text"), "Content": "帮助", "MsgId": 1001})
    reply = fields_of(res.text)
    assert reply["ToUserName"] == c.openid and reply["FromUserName"] == "gh_test"
    assert reply["Content"].startswith(HELP_START)


def test_compatible_and_safe_mode_pushes_are_decrypted_and_answered_encrypted(make_citizen):
    for mode in ("compat", "safe"):
        c = make_citizen(mode)
        res = c.wechat.push({**c.base("text"), "Content": "帮助", "MsgId": 2000 + len(mode)})
        assert "<Encrypt>" in res.text and HELP_START not in res.text
        assert c.wechat.reply(res).startswith(HELP_START)


def test_the_previous_encoding_aes_key_still_works_during_rotation(app, make_citizen):
    c = make_citizen("safe")
    c.wechat.aes_key = OLD_AES_KEY
    res = c.wechat.push({**c.base("text"), "Content": "帮助", "MsgId": 3001})
    assert res.status_code == 400 and inbound_count() == 0  # not configured yet: refused, nothing recorded
    app.config["WECHAT_PREVIOUS_ENCODING_AES_KEY"] = OLD_AES_KEY
    res = c.wechat.push({**c.base("text"), "Content": "帮助", "MsgId": 3002})
    assert c.wechat.reply(res).startswith(HELP_START)  # answered with the old key, which WeChat still uses


def test_bad_signatures_and_stale_or_future_timestamps_are_refused(make_citizen):
    c = make_citizen("safe")
    body = message_xml({**c.base("text"), "Content": "帮助", "MsgId": 4001})
    params = c.wechat.query()
    params["signature"] = sign("wrong-token", params["timestamp"], params["nonce"])
    assert c.wechat.raw(body, params).status_code == 403
    for skew in (-310, 310):  # clear of the 300 s limit even when the request takes a while under load
        assert (
            c.wechat.push({**c.base("text"), "Content": "帮助"}, timestamp=int(time.time()) + skew).status_code == 403
        )
    # safe mode: a msg_signature over something else
    encrypted = encrypt(body)
    params = {**c.wechat.query(), "encrypt_type": "aes", "msg_signature": "f" * 40}
    res = c.wechat.raw(f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>", params)
    assert res.status_code == 403
    assert inbound_count() == 0


def test_a_body_over_the_limit_is_refused_and_nothing_is_recorded(app, make_citizen):
    app.config["WECHAT_MAX_BODY_BYTES"] = 1024
    c = make_citizen()
    res = c.wechat.push({**c.base("text"), "Content": "井盖没了" * 300, "MsgId": 4101})  # signed, well formed, big
    assert res.status_code == 413
    assert inbound_count() == 0
    assert c.wechat.push({**c.base("text"), "Content": "帮助", "MsgId": 4102}).status_code == 200  # the size did it
    assert inbound_count() == 1


def test_hostile_and_malformed_xml_is_refused_without_expansion(wechat):
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">'
        '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><xml><Content>&lol3;</Content></xml>'
    )
    xxe = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        "<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><MsgType>text</MsgType>"
        "<Content>&e;</Content><MsgId>5</MsgId></xml>"
    )
    cases = {
        "billion laughs": laughs,
        "xxe": xxe,
        "not xml": "hello",
        "unclosed": "<xml><Content>",
        "wrong root": "<foo><MsgType>text</MsgType></foo>",
        "no sender": "<xml><MsgType>text</MsgType></xml>",
        "empty": "",
    }
    for name, body in cases.items():
        res = wechat.raw(body, wechat.query())
        assert res.status_code == 400, name
        assert "root:" not in res.text
    assert inbound_count() == 0


def test_text_containing_cdata_end_cannot_break_the_reply(make_citizen):
    c = make_citizen()
    hostile = "井盖没了]]><MsgType>image</MsgType><x>"
    reply = c.text(hostile)
    assert hostile in reply  # echoed literally, and the reply parsed as one text message


def test_every_push_is_recorded_with_its_citizen_type_and_msgid(make_citizen, run_jobs):
    c = make_citizen()
    c.text("帮助", msg_id=777001)
    run_jobs()  # with rq workers the reply reaches its row in a batch
    row = db.session.scalar(select(InboundMessage).where(InboundMessage.msg_id == "777001"))
    assert row.openid == c.openid and row.msg_type == "text" and row.payload["Content"] == "帮助"
    assert row.citizen_id is not None and row.reply.startswith(HELP_START) and row.handled_at is not None


def test_a_retried_message_gets_the_same_answer_and_has_one_effect(make_citizen):
    c = make_citizen()
    media_id = c.fake.add_media(b"x")
    first = c.photo(media_id=media_id, msg_id=880001)
    again = c.photo(media_id=media_id, msg_id=880001)
    assert first == again and "共 1 张" in first
    assert "共 2 张" in c.photo(msg_id=880002)
    assert inbound_count() == 2


def test_three_concurrent_tries_of_one_message_get_one_answer_and_one_effect(make_citizen, wechat):
    c = make_citizen()
    fields = {**c.base("text"), "Content": "路边有井盖缺失", "MsgId": 990001}
    db.session.commit()
    results, barrier = [], threading.Barrier(3)

    def push():
        barrier.wait()
        results.append(WeChat(wechat.url.removesuffix("/wechat")).push(dict(fields)))

    threads = [threading.Thread(target=push) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    replies = {wechat.reply(r) for r in results}
    assert len(replies) == 1 and "井盖" in replies.pop()
    assert inbound_count() == 1
    draft_reply = c.text("帮助")
    assert draft_reply.startswith(HELP_START)


def test_events_are_deduplicated_by_sender_and_create_time(app, make_citizen):
    c = make_citizen()
    t = int(time.time())
    assert "欢迎" in c.event("subscribe", create_time=t)
    assert "欢迎" in c.event("subscribe", create_time=t)
    assert inbound_count() == 1


def test_hostile_xml_inside_an_encrypted_push_is_refused_too(make_citizen):
    c = make_citizen("safe")
    inner = '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><FromUserName>o</FromUserName></xml>'
    encrypted = encrypt(inner)
    params = c.wechat.query()
    params.update(
        encrypt_type="aes", msg_signature=sign("test-wechat-token", params["timestamp"], params["nonce"], encrypted)
    )
    res = c.wechat.raw(f"<xml><ToUserName>gh</ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>", params)
    assert res.status_code == 400
    assert inbound_count() == 0


def test_a_push_encrypted_for_another_app_id_is_refused(make_citizen):
    c = make_citizen("safe")
    encrypted = encrypt(message_xml({**c.base("text"), "Content": "帮助", "MsgId": 6001}), app_id="wxSomeoneElse")
    params = c.wechat.query()
    params.update(
        encrypt_type="aes", msg_signature=sign("test-wechat-token", params["timestamp"], params["nonce"], encrypted)
    )
    res = c.wechat.raw(f"<xml><ToUserName>gh</ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>", params)
    assert res.status_code == 400 and inbound_count() == 0


def test_a_retry_of_a_push_whose_first_try_failed_acts_instead_of_apologising_again(make_citizen, redis_down):
    from app.bot import messages as M
    from app.bot.dialogue import load

    c = make_citizen()
    media_id = c.fake.add_media(b"x")
    with redis_down():  # Redis restarting: the draft cannot be read or written
        assert c.photo(media_id=media_id, msg_id=770001) == M.SORRY  # the citizen is told, never left in silence
    row = db.session.scalar(select(InboundMessage).where(InboundMessage.msg_id == "770001"))
    assert row.reply == M.SORRY and row.error  # recorded, with why it failed
    db.session.commit()
    healed = c.photo(media_id=media_id, msg_id=770001)  # WeChat's retry of the same MsgId, Redis back
    assert "共 1 张" in healed
    assert c.photo(media_id=media_id, msg_id=770001) == healed  # later retries get the healed answer
    assert inbound_count() == 1 and load(c.openid)["photos"] == [media_id]  # one row, the photo once


# ----------------------------------------------------------------------------------------------- rate limit per openid


def _next_window(window_s: int) -> None:
    """Sleep into the next fixed rate-limit window."""
    time.sleep(window_s - time.time() % window_s + 0.05)


def test_a_flood_from_one_openid_is_recorded_and_answered_kindly_but_not_acted_on(app, make_citizen):
    from app.bot import messages as M

    app.config.update(BOT_RATE_LIMIT=2, BOT_RATE_WINDOW_S=3)
    _next_window(3)
    flooder, neighbour = make_citizen(), make_citizen()
    assert "共 1 张" in flooder.photo(msg_id=660001)
    assert "共 2 张" in flooder.photo(msg_id=660002)
    assert flooder.photo(msg_id=660003) == M.TOO_FAST  # over the limit: not added to the draft
    assert flooder.text("帮助", msg_id=660004) == M.TOO_FAST
    assert neighbour.text("帮助").startswith(HELP_START)  # others are not slowed
    rows = db.session.scalars(select(InboundMessage).where(InboundMessage.openid == flooder.openid)
                              .order_by(InboundMessage.msg_id)).all()
    assert [r.msg_id for r in rows] == ["660001", "660002", "660003", "660004"]  # every message recorded
    assert [r.throttled for r in rows] == [False, False, True, True]
    assert rows[2].reply == M.TOO_FAST and rows[2].handled_at is not None and rows[2].error is None
    db.session.commit()
    _next_window(3)
    assert "共 3 张" in flooder.photo(msg_id=660005)  # a new window: acted on again; the throttled photo never was


def test_wechat_retries_do_not_count_towards_the_limit_and_get_the_same_answer(app, make_citizen):
    from app.bot import messages as M

    app.config.update(BOT_RATE_LIMIT=2, BOT_RATE_WINDOW_S=5)
    _next_window(5)
    c = make_citizen()
    first = c.text("帮助", msg_id=661001)
    for _ in range(3):  # WeChat's retries of the same MsgId
        assert c.text("帮助", msg_id=661001) == first
    assert c.text("帮助", msg_id=661002).startswith(HELP_START)  # still the 2nd message of the window
    assert c.text("帮助", msg_id=661003) == M.TOO_FAST
    assert c.text("帮助", msg_id=661003) == M.TOO_FAST  # a retry of a throttled message: same answer, not acted on
    assert inbound_count() == 3


def test_subscribe_unsubscribe_and_location_events_are_never_throttled(app, make_citizen):
    from app.citizens.models import Citizen as CitizenRow

    app.config.update(BOT_RATE_LIMIT=1, BOT_RATE_WINDOW_S=5)
    _next_window(5)
    c = make_citizen()
    c.text("帮助")
    c.event("LOCATION", Latitude=29.5724, Longitude=106.5356, Precision=30)
    assert "欢迎" in c.event("subscribe", create_time=int(time.time()) + 1)
    c.event("unsubscribe", create_time=int(time.time()) + 2)
    row = db.session.scalar(select(CitizenRow).where(CitizenRow.openid == c.openid))
    assert row.subscribed is False
    assert not db.session.scalar(select(func.count()).select_from(InboundMessage)
                                 .where(InboundMessage.throttled.is_(True)))


@pytest.mark.app_config(JOBS_MODE="rq")  # replies go to their rows in batches, as with workers (on either runtime)
def test_with_workers_replies_reach_their_rows_in_one_batch_and_survive_a_failed_flush(app, make_citizen, run_jobs):
    from sqlalchemy.exc import SQLAlchemyError

    from app.bot import inbound

    c = make_citizen()
    for i in range(3):
        assert c.text("帮助", msg_id=662000 + i).startswith(HELP_START)
    rows = db.session.scalars(select(InboundMessage).where(InboundMessage.openid == c.openid)).all()
    assert len(rows) == 3 and all(r.reply is None for r in rows)  # recorded at once, the answer follows
    db.session.commit()
    with refusing_updates_of("bot_inbound_messages"), pytest.raises(SQLAlchemyError, match="refuses"):
        inbound.flush_replies()  # the database refuses the batch's UPDATE
    assert app.extensions["redis"].llen(inbound.PENDING_REPLIES) == 3  # put back
    run_jobs()
    assert inbound.flush_replies() == 0  # the scheduled job wrote them
    db.session.expire_all()
    rows = db.session.scalars(select(InboundMessage).where(InboundMessage.openid == c.openid)).all()
    assert all(r.reply.startswith(HELP_START) and r.handled_at is not None for r in rows)
