"""The webhook's hot path: what one push costs in round trips, and what happens when its last Redis round trip (the
one that carries the draft's change) fails."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.bot import dialogue
from app.bot import messages as M
from app.bot.batch import PushBatch
from app.bot.models import InboundMessage
from app.extensions import db
from tests.conftest import ON_POSTGRES, REDIS_URL

GUANYINQIAO = (29.57240, 106.53556)


@pytest.mark.skipif(not (ON_POSTGRES and REDIS_URL), reason="the budget is for PostgreSQL + Redis (CI's second pass)")
def test_a_known_citizens_push_costs_one_statement_and_two_redis_round_trips(app, make_citizen, round_trips):
    from app.reports.categories import suggest_category

    app.config["BOT_REPLY_FLUSH_INTERVAL_S"] = 300  # the batch job was queued by the first push: none in between
    app.config["INDEX_CHECK_INTERVAL_S"] = 60  # the keyword table's version is checked once a second in production
    suggest_category("路灯")  # and it is loaded once per process
    c = make_citizen()
    c.text("帮助", msg_id=880001)  # first contact creates the citizen
    trips = round_trips
    for i, words in enumerate(["帮助", "小区门口的路灯不亮了", "我的举报"]):
        trips.reset()  # each push counted on its own
        assert c.text(words, msg_id=880010 + i)
        # The inbound row with the citizen's lookup (and last_message_at) is one statement, and the pool's checkout
        # sends none; "我的举报" also lists the citizen's cases. Redis: the first round trip (rate count, lock,
        # draft) and the last (the draft's write, the lock's release, the reply for retries, the row's update).
        assert (trips.sql, trips.redis) == ((2 if words == "我的举报" else 1), 2), words


def test_a_draft_change_redis_did_not_keep_is_an_apology_and_the_retry_redoes_it(make_citizen, monkeypatch):
    real = PushBatch.fill_last

    def writes_then_fail(self, pipe):
        wrote = real(self, pipe)
        pipe.execute_command("NO-SUCH-COMMAND")  # the pipeline fails after the draft's write was queued
        return wrote

    c = make_citizen()
    media_id = c.fake.add_media(b"x")
    monkeypatch.setattr(PushBatch, "fill_last", writes_then_fail)
    assert c.photo(media_id=media_id, msg_id=881001) == M.SORRY  # not "photo received" when that may be untrue
    row = db.session.scalar(select(InboundMessage).where(InboundMessage.msg_id == "881001"))
    assert row.error.startswith("draft not saved") and row.reply == M.SORRY
    db.session.commit()
    monkeypatch.setattr(PushBatch, "fill_last", real)
    assert "共 1 张" in c.photo(media_id=media_id, msg_id=881001)  # WeChat's retry acts again, once
    assert dialogue.load(c.openid)["photos"] == [media_id]
    # The citizen's lock was released by the failed pipeline's script or expires; the next step is not kept waiting.
    assert c.location(*GUANYINQIAO, msg_id=881002)


def test_the_same_sentence_twice_is_kept_once_in_the_description(make_citizen):
    c = make_citizen()
    c.text("小区门口的路灯不亮了", msg_id=882001)
    c.text("小区门口的路灯不亮了", msg_id=882002)
    c.text("晚上很黑", msg_id=882003)
    assert dialogue.load(c.openid)["description"] == "小区门口的路灯不亮了；晚上很黑"


@pytest.mark.skipif(not ON_POSTGRES, reason="needs PostgreSQL (DATABASE_URL)")
def test_after_the_database_dropped_every_connection_the_next_push_is_answered(app, make_citizen):
    """What a database restart does to the pool: the hot path's raw connection is checked like any other."""
    import time

    import psycopg
    from sqlalchemy import text

    from tests.conftest import PG_URL

    c = make_citizen()
    assert c.text("帮助", msg_id=883001).startswith("您可以这样使用")
    with psycopg.connect(PG_URL.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    time.sleep(0.2)
    db.session.rollback()
    assert c.text("帮助", msg_id=883002).startswith("您可以这样使用")  # no 500, no apology
    recorded = text("SELECT count(*) FROM bot_inbound_messages WHERE msg_id LIKE '88300%'")
    assert db.session.execute(recorded).scalar() == 2
