"""The webhook's hot path: what one push costs in round trips, and what happens when its last Redis round trip (the
one that carries the draft's change) fails."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from app.bot import dialogue
from app.bot import messages as M
from app.bot.models import InboundMessage
from app.config import load_config
from app.extensions import db
from tests.conftest import ON_POSTGRES, REDIS_URL

GUANYINQIAO = (29.57240, 106.53556)


# The intervals the budget depends on, at their production defaults (app/config.py) and stretched.
DEFAULTS = load_config({"APP_ENV": "testing"})
INTERVALS = {
    "production defaults": {name: DEFAULTS[name] for name in ("BOT_REPLY_FLUSH_INTERVAL_S", "INDEX_CHECK_INTERVAL_S")},
    "stretched": {"BOT_REPLY_FLUSH_INTERVAL_S": 300, "INDEX_CHECK_INTERVAL_S": 60},
}
budget_runtime = pytest.mark.skipif(not (ON_POSTGRES and REDIS_URL),
                                    reason="the budget is for PostgreSQL + Redis (CI's second pass)")


@budget_runtime
@pytest.mark.parametrize("intervals", INTERVALS)
def test_a_known_citizens_push_costs_one_statement_and_two_redis_round_trips(app, make_citizen, round_trips,
                                                                            intervals):
    from app.bot.inbound import REPLY_FLUSH_DUE
    from app.reports.categories import suggest_category

    app.config.update(INTERVALS[intervals])
    assert DEFAULTS["BOT_REPLY_FLUSH_INTERVAL_S"] == 2 and DEFAULTS["INDEX_CHECK_INTERVAL_S"] == 1.0
    redis = app.extensions["redis"]
    c = make_citizen()
    c.text("帮助", msg_id=880001)  # first contact creates the citizen and schedules the reply batch
    trips = round_trips
    for i, words in enumerate(["帮助", "小区门口的路灯不亮了", "我的举报"]):
        # Within both intervals, as most pushes are: the keyword table's version was just checked (once per
        # INDEX_CHECK_INTERVAL_S per process) and this interval's reply batch is scheduled.
        suggest_category("路灯")
        redis.set(REPLY_FLUSH_DUE, 1, ex=app.config["BOT_REPLY_FLUSH_INTERVAL_S"])
        started = time.monotonic()
        trips.reset()  # each push counted on its own
        assert c.text(words, msg_id=880010 + i)
        # The inbound row with the citizen's lookup (and last_message_at) is one statement, and the pool's checkout
        # sends none; "我的举报" also lists the citizen's cases. Redis: the first round trip (rate count, lock,
        # draft) and the last (the draft's write, the lock's release, the reply for retries, the row's update).
        # A plain push costs one more, before anything is recorded: the replay guard's SET NX GET (app.bot.routes).
        assert (trips.sql, trips.redis) == ((2 if words == "我的举报" else 1), 3), words
        assert time.monotonic() - started < app.config["INDEX_CHECK_INTERVAL_S"]  # the push was inside them


@budget_runtime
def test_at_the_production_intervals_a_push_after_one_ran_out_pays_only_that_intervals_work(app, make_citizen,
                                                                                             round_trips):
    """The two periodic costs the budget leaves out, each once per interval: the category suggester's version checks
    (one GET of the published model's pointer and one of the keyword table's or the active categories' version per
    INDEX_CHECK_INTERVAL_S per process) and the reply batch's job (one enqueue per BOT_REPLY_FLUSH_INTERVAL_S for
    all processes)."""
    from app.bot.inbound import REPLY_FLUSH_DUE
    from app.extensions import get_queue
    from app.reports.categories import suggest_category

    app.config.update(INTERVALS["production defaults"])
    redis = app.extensions["redis"]
    c = make_citizen()
    c.text("帮助", msg_id=884001)
    suggest_category("路灯")
    redis.set(REPLY_FLUSH_DUE, 1, ex=3600)
    time.sleep(app.config["INDEX_CHECK_INTERVAL_S"] + 0.05)  # the version check is due again
    round_trips.reset()
    c.text("小区门口的路灯不亮了", msg_id=884002)
    assert (round_trips.sql, round_trips.redis) == (1, 5)  # the budget and the suggester's two version GETs
    get_queue("default").empty()
    redis.delete(REPLY_FLUSH_DUE)  # the reply batch's interval is over
    round_trips.reset()
    c.text("帮助", msg_id=884003)
    assert (round_trips.sql, round_trips.redis) == (1, 3 + 4)  # and rq's enqueue of the batch job (4 round trips)
    assert get_queue("default").job_ids == ["bot-flush-replies"]
    round_trips.reset()
    c.text("帮助", msg_id=884004)  # the same interval: the batch is scheduled, back to the budget
    assert (round_trips.sql, round_trips.redis) == (1, 3)


@pytest.mark.app_config(JOBS_MODE="rq")  # the last round trip also queues the reply for the batch job
def test_a_draft_change_redis_did_not_keep_is_an_apology_and_the_retry_redoes_it(app, make_citizen):
    from app.bot.inbound import PENDING_REPLIES

    redis = app.extensions["redis"]
    c = make_citizen()
    media_id = c.fake.add_media(b"x")
    redis.set(PENDING_REPLIES, "not a list")  # Redis answers the last pipeline's RPUSH with WRONGTYPE: it fails
    assert c.photo(media_id=media_id, msg_id=881001) == M.SORRY  # not "photo received" when that may be untrue
    row = db.session.scalar(select(InboundMessage).where(InboundMessage.msg_id == "881001"))
    assert row.error.startswith("draft not saved") and row.reply == M.SORRY
    db.session.commit()
    redis.delete(PENDING_REPLIES)
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
