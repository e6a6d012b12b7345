"""Proof under load: no double spend, no overselling, one effect per key — whatever the concurrency.

Threads released together by a barrier call the service layer, each in its own app context (own session and
connection); the same tests run on SQLite (BEGIN IMMEDIATE) and on PostgreSQL (row locks, conditional UPDATEs).
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app import events
from app.events import emit, run_subscriber
from app.extensions import db
from app.points.errors import AlreadyCollected, RedemptionClosed
from app.points.models import PointsEntry, Redemption, Reward
from app.points.queries import balance_of, reconcile
from app.points.services import (
    InsufficientPoints,
    OutOfStock,
    award_points_for,
    cancel_redemption,
    collect_redemption,
    redeem,
)
from tests import factories
from tests.points.conftest import key, verified


def assert_reconciles():
    result = reconcile()
    assert result.ok, (result.bad_accounts, result.bad_rewards)
    assert result.accounts_checked > 0


def test_fifty_citizens_racing_for_a_stock_of_ten_get_exactly_ten(app, funded, reward, concurrently):
    citizens = [funded(30) for _ in range(50)]
    reward_id = reward(cost=10, stock=10)

    results = concurrently(50, lambda i: redeem(citizens[i], reward_id, key()).redemption.code)

    winners = [r for r in results if not isinstance(r, Exception)]
    refusals = [r for r in results if isinstance(r, Exception)]
    assert len(winners) == 10
    assert len(refusals) == 40 and all(isinstance(r, OutOfStock) for r in refusals), refusals
    assert db.session.get(Reward, reward_id).stock == 0
    assert db.session.scalar(select(func.count()).select_from(Redemption)) == 10
    assert sorted(balance_of(c) for c in citizens) == [20] * 10 + [30] * 40
    assert len(set(winners)) == 10
    assert_reconciles()


def test_one_citizen_with_points_for_three_firing_twenty_redemptions_gets_three(app, funded, reward, concurrently):
    citizen_id = funded(35)
    reward_id = reward(cost=10, stock=100)

    results = concurrently(20, lambda i: redeem(citizen_id, reward_id, key()).redemption.code)

    winners = [r for r in results if not isinstance(r, Exception)]
    refusals = [r for r in results if isinstance(r, Exception)]
    assert len(winners) == 3
    assert len(refusals) == 17 and all(isinstance(r, InsufficientPoints) for r in refusals), refusals
    assert balance_of(citizen_id) == 5
    assert db.session.get(Reward, reward_id).stock == 97
    assert_reconciles()


def test_the_same_idempotency_key_sent_ten_times_at_once_redeems_once_with_ten_identical_answers(
    app, funded, reward, concurrently
):
    from app.points.present import redemption_json

    citizen_id = funded(100)
    reward_id = reward(cost=10, stock=5)
    same = key()

    def attempt(i):
        result = redeem(citizen_id, reward_id, same)
        with app.test_request_context():
            return result.replayed, redemption_json(result.redemption)

    results = concurrently(10, attempt)

    assert not any(isinstance(r, Exception) for r in results), results
    assert sorted(replayed for replayed, _ in results) == [False] + [True] * 9
    answers = [answer for _, answer in results]
    assert all(a == answers[0] for a in answers)
    assert db.session.scalar(select(func.count()).select_from(Redemption)) == 1
    assert balance_of(citizen_id) == 90
    assert db.session.get(Reward, reward_id).stock == 4
    assert_reconciles()


def test_the_award_for_one_verified_case_run_five_times_at_once_posts_one_entry(app, concurrently):
    citizen_id = factories.citizen().id

    def award(i):
        amount = award_points_for(verified(4242, citizen_id))
        db.session.commit()
        return amount

    results = concurrently(5, award)

    assert sorted(results) == [0, 0, 0, 0, 10], results
    keys = db.session.scalars(select(PointsEntry.idempotency_key)).all()
    assert keys == ["award:report:4242"]
    assert balance_of(citizen_id) == 10
    assert_reconciles()


@pytest.mark.app_config(JOBS_MODE="rq")  # the relay enqueues for workers (none run here): the events wait in the queue
def test_five_deliveries_of_the_verified_event_through_the_job_runner_award_once(app, concurrently):
    citizen_id = factories.citizen().id
    handler = "app.points.services.award_points_for"
    assert handler in events.SUBSCRIPTIONS["ReportVerified"]
    rows = [emit(verified(77, citizen_id)) for _ in range(5)]  # e.g. re-verified after a reopen, or re-sent
    db.session.commit()
    ids = [r.id for r in rows]
    assert db.session.scalar(select(func.count()).select_from(PointsEntry)) == 0

    results = concurrently(5, lambda i: run_subscriber(ids[i], handler))  # five workers take the five jobs

    assert results == ["done"] * 5
    assert db.session.scalar(select(func.count()).select_from(PointsEntry)) == 1
    assert balance_of(citizen_id) == 10
    assert_reconciles()


def test_cancel_and_collect_racing_on_one_code_have_exactly_one_winner(app, funded, reward, concurrently):
    citizen_id = funded(50)
    reward_id = reward(cost=10, stock=3)
    code = redeem(citizen_id, reward_id, key()).redemption.code

    def race(i):
        if i % 2:
            return cancel_redemption(citizen_id, code).status
        return collect_redemption(code, "staff:1:test").status

    results = concurrently(6, race)

    statuses = [r for r in results if isinstance(r, str)]
    assert len(statuses) == 1, results
    losers = [r for r in results if not isinstance(r, str)]  # each lost to the winner, nothing else went wrong
    assert len(losers) == 5 and all(isinstance(r, AlreadyCollected | RedemptionClosed) for r in losers), losers
    final = db.session.scalar(select(Redemption).where(Redemption.code == code))
    assert final.status == statuses[0]
    assert balance_of(citizen_id) == (50 if final.status == "cancelled" else 40)
    assert_reconciles()


def test_ten_concurrent_http_requests_with_one_key_get_ten_identical_answers(app, live_server, funded, reward):
    import threading

    import requests

    citizen_id, reward_id = funded(100), reward(cost=10, stock=5)
    db.session.commit()
    cookie = app.session_interface.get_signing_serializer(app).dumps({"citizen_id": citizen_id})
    same, barrier, answers = key(), threading.Barrier(10), []

    def post():
        barrier.wait()
        r = requests.post(
            f"{live_server}/api/points/redemptions",
            json={"reward_id": reward_id},
            headers={"Idempotency-Key": same},
            cookies={app.config["SESSION_COOKIE_NAME"]: cookie},
            timeout=30,
        )
        answers.append((r.status_code, r.headers.get("Idempotent-Replayed"), r.json()))

    threads = [threading.Thread(target=post) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert [status for status, _, _ in answers] == [201] * 10
    assert sorted(replayed for _, replayed, _ in answers) == ["false"] + ["true"] * 9
    assert all(body == answers[0][2] for _, _, body in answers)
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Redemption)) == 1
    assert balance_of(citizen_id) == 90
    assert_reconciles()


def test_concurrent_awards_for_one_citizen_never_exceed_the_daily_cap(app, concurrently):
    app.config["POINTS_DAILY_CAP"] = 25
    citizen_id = factories.citizen().id

    def award(i):
        amount = award_points_for(verified(500 + i, citizen_id))
        db.session.commit()
        return amount

    results = concurrently(8, award)

    assert sum(results) == 25 and sorted(results) == [0] * 5 + [5, 10, 10], results
    assert balance_of(citizen_id) == 25
    assert db.session.scalar(select(func.count()).select_from(PointsEntry)) == 8
    assert_reconciles()
