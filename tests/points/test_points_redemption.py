"""Redeeming rewards: refusals for each bad case, idempotency, cancel, pickup (核销), expiry, the catalogue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.points.models import Redemption, Reward
from app.points.queries import balance_of, reconcile
from app.points.rewards import create_reward, restock, set_active
from app.points.services import (
    CODE_ALPHABET,
    AlreadyCollected,
    IdempotencyConflict,
    InsufficientPoints,
    InvalidRequest,
    NotYourRedemption,
    OutOfStock,
    OverLimit,
    RedemptionClosed,
    RedemptionNotFound,
    RewardNotFound,
    RewardUnavailable,
    cancel_redemption,
    collect_redemption,
    expire_redemptions,
    redeem,
)
from tests.points.conftest import key

NOW = datetime.now(UTC)


def stock(reward_id):
    return db.session.get(Reward, reward_id, populate_existing=True).stock


def test_a_redemption_debits_takes_stock_and_issues_a_short_unguessable_code(app, funded, reward):
    citizen_id, reward_id = funded(25), reward(cost=10, stock=5)
    result = redeem(citizen_id, reward_id, key())
    r = result.redemption
    assert not result.replayed
    assert (r.status, r.cost, r.balance_after) == ("issued", 10, 15)
    assert len(r.code) == 10 and set(r.code) <= set(CODE_ALPHABET)
    assert r.expires_at > NOW + timedelta(days=13)
    assert balance_of(citizen_id) == 15 and stock(reward_id) == 4
    assert reconcile().ok


def test_codes_differ_between_redemptions(app, funded, reward):
    citizen_id, reward_id = funded(100), reward(cost=1, stock=50)
    codes = {redeem(citizen_id, reward_id, key()).redemption.code for _ in range(30)}
    assert len(codes) == 30


@pytest.mark.parametrize(
    ("setup", "error", "message"),
    [
        ({"points": 5}, InsufficientPoints, "积分不足：需要 10 分，当前 5 分"),
        ({"points": 0}, InsufficientPoints, "积分不足：需要 10 分，当前 0 分"),
        ({"stock": 0}, OutOfStock, "已经兑完了"),
        ({"active": False}, RewardUnavailable, "已下架"),
        ({"valid_from": NOW + timedelta(days=1)}, RewardUnavailable, "起才能兑换"),
        ({"valid_until": NOW - timedelta(seconds=1)}, RewardUnavailable, "兑换期已结束"),
    ],
)
def test_each_bad_redemption_is_refused_with_a_clear_message_and_changes_nothing(
    app, funded, reward, setup, error, message
):
    citizen_id = funded(setup.pop("points", 100))
    reward_id = reward(cost=10, stock=setup.pop("stock", 3), **setup)
    before = stock(reward_id)
    with pytest.raises(error, match=message):
        redeem(citizen_id, reward_id, key())
    assert stock(reward_id) == before
    assert db.session.scalar(select(Redemption)) is None
    assert reconcile().ok


def test_an_unknown_reward_is_refused(app, funded):
    with pytest.raises(RewardNotFound, match="没有这个奖品"):
        redeem(funded(10), 999, key())


@pytest.mark.parametrize(
    "bad_key", [None, "", "short", "x" * 101, "含中文的请求编号abc", "spaces in key", "trailing-newline\n"]
)
def test_a_missing_or_malformed_idempotency_key_is_refused(app, funded, reward, bad_key):
    with pytest.raises(InvalidRequest, match="Idempotency-Key"):
        redeem(funded(10), reward(), bad_key)


def test_the_per_citizen_limit_counts_held_redemptions_and_frees_up_on_cancel(app, funded, reward):
    citizen_id, reward_id = funded(100), reward(cost=10, stock=10, per_citizen=2)
    first = redeem(citizen_id, reward_id, key()).redemption.code
    redeem(citizen_id, reward_id, key())
    with pytest.raises(OverLimit, match="每人最多兑换 2 份"):
        redeem(citizen_id, reward_id, key())
    cancel_redemption(citizen_id, first)
    redeem(citizen_id, reward_id, key())
    assert balance_of(citizen_id) == 80


def test_the_same_key_returns_the_first_answer_and_a_different_reward_under_it_is_refused(app, funded, reward):
    citizen_id, bag, ticket = funded(100), reward(cost=10), reward("公交一日票", cost=20)
    k = key()
    first = redeem(citizen_id, bag, k)
    again = redeem(citizen_id, bag, k)
    assert again.replayed and again.redemption.id == first.redemption.id
    with pytest.raises(IdempotencyConflict, match="另一件奖品"):
        redeem(citizen_id, ticket, k)
    assert balance_of(citizen_id) == 90


def test_two_citizens_may_use_the_same_key_independently(app, funded, reward):
    a, b, reward_id = funded(10), funded(10), reward(cost=10)
    redeem(a, reward_id, "shared-key-123")
    assert not redeem(b, reward_id, "shared-key-123").replayed
    assert stock(reward_id) == 3


def test_cancelling_before_pickup_returns_points_and_stock(app, funded, reward):
    citizen_id, reward_id = funded(10), reward(cost=10, stock=1)
    code = redeem(citizen_id, reward_id, key()).redemption.code
    r = cancel_redemption(citizen_id, code.lower())  # codes are typed in any case
    assert r.status == "cancelled" and r.cancelled_at is not None
    assert balance_of(citizen_id) == 10 and stock(reward_id) == 1
    assert reconcile().ok
    with pytest.raises(RedemptionClosed, match="已取消"):
        cancel_redemption(citizen_id, code)


def test_a_citizen_cannot_cancel_another_citizens_code(app, funded, reward):
    owner, other, reward_id = funded(10), funded(10), reward(cost=10)
    code = redeem(owner, reward_id, key()).redemption.code
    with pytest.raises(NotYourRedemption, match="这不是你的兑换码"):
        cancel_redemption(other, code)
    assert balance_of(owner) == 0


def test_staff_collect_a_code_once(app, funded, reward):
    citizen_id, reward_id = funded(10), reward(cost=10)
    code = redeem(citizen_id, reward_id, key()).redemption.code
    r = collect_redemption(f"{code[:5]}-{code[5:]}", "staff:1:张三")
    assert (r.status, r.collected_by) == ("collected", "staff:1:张三")
    with pytest.raises(AlreadyCollected, match="已领取过"):
        collect_redemption(code, "staff:2:李四")
    with pytest.raises(AlreadyCollected):
        cancel_redemption(citizen_id, code)
    assert balance_of(citizen_id) == 0 and reconcile().ok


def test_an_unknown_code_is_refused(app):
    with pytest.raises(RedemptionNotFound, match="没有这个兑换码"):
        collect_redemption("ABCDE23456", "staff:1:x")


def test_expired_codes_return_points_and_stock_and_can_no_longer_be_collected(app, funded, reward):
    citizen_id, reward_id = funded(30), reward(cost=10, stock=3)
    old = redeem(citizen_id, reward_id, key(), now=NOW - timedelta(days=15)).redemption.code
    fresh = redeem(citizen_id, reward_id, key()).redemption.code
    with pytest.raises(RedemptionClosed, match="已过期"):
        collect_redemption(old, "staff:1:x")
    assert expire_redemptions() == 1
    assert expire_redemptions() == 0
    statuses = dict(db.session.execute(select(Redemption.code, Redemption.status)).all())
    assert statuses == {old: "expired", fresh: "issued"}
    assert balance_of(citizen_id) == 20 and stock(reward_id) == 2
    assert reconcile().ok


def test_restocking_keeps_the_stock_provable(app, funded, reward):
    citizen_id, reward_id = funded(10), reward(cost=10, stock=1)
    redeem(citizen_id, reward_id, key())
    restock(reward_id, 5)
    assert stock(reward_id) == 5 and reconcile().ok
    with pytest.raises(OutOfStock):
        restock(reward_id, -6)
    restock(reward_id, -5)
    assert stock(reward_id) == 0 and reconcile().ok
    with pytest.raises(RewardNotFound):
        restock(999, 1)


def test_an_inactive_reward_can_be_switched_back_on(app, funded, reward):
    citizen_id, reward_id = funded(10), reward(cost=10)
    set_active(reward_id, False)
    with pytest.raises(RewardUnavailable):
        redeem(citizen_id, reward_id, key())
    set_active(reward_id, True)
    redeem(citizen_id, reward_id, key())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": " "}, "名称不能为空"),
        ({"name": "x" * 101}, "最多 100 个字"),
        ({"cost": 0}, "必须大于 0"),
        ({"stock": -1}, "不能为负数"),
        ({"per_citizen_limit": 0}, "至少为 1"),
        ({"valid_from": NOW, "valid_until": NOW}, "必须晚于开始时间"),
    ],
)
def test_bad_rewards_are_refused_with_a_clear_message(app, kwargs, message):
    values = {"name": "购物袋", "cost": 10, "stock": 5} | kwargs
    with pytest.raises(InvalidRequest, match=message):
        create_reward(**values)


def test_reconcile_finds_a_tampered_balance_and_a_tampered_stock(app, funded, reward):
    from app.points.models import PointsAccount

    citizen_id, reward_id = funded(10), reward(cost=10, stock=2)
    db.session.execute(PointsAccount.__table__.update().values(balance=999))
    db.session.execute(Reward.__table__.update().values(stock=1))
    db.session.commit()
    result = reconcile()
    assert [b["citizen_id"] for b in result.bad_accounts] == [citizen_id]
    assert result.bad_accounts[0] == {"account_id": 1, "citizen_id": citizen_id, "balance": 999, "entries_sum": 10}
    assert result.bad_rewards == [{"reward_id": reward_id, "name": "环保购物袋", "stock": 1, "expected": 2}]


def test_the_database_refuses_a_negative_balance_or_stock_even_if_code_tried(app, funded, reward):
    from sqlalchemy.exc import IntegrityError

    from app.points.models import PointsAccount

    funded(5)
    reward_id = reward(stock=0)
    with pytest.raises(IntegrityError):
        db.session.execute(PointsAccount.__table__.update().values(balance=-1))
        db.session.flush()
    db.session.rollback()
    with pytest.raises(IntegrityError):
        db.session.execute(Reward.__table__.update().where(Reward.id == reward_id).values(stock=-1))
    db.session.rollback()


def test_a_pickup_code_drawn_twice_is_drawn_again_without_a_double_debit(app, funded, reward, monkeypatch):
    from app.points import redemptions

    citizen_id, reward_id = funded(30), reward(cost=10)
    draws = iter("AAAAA22222" "AAAAA22222" "BBBBB33333")  # the random source repeats a code, then draws a free one
    monkeypatch.setattr(redemptions.secrets, "choice", lambda alphabet: next(draws))
    first = redeem(citizen_id, reward_id, key()).redemption.code
    second = redeem(citizen_id, reward_id, key()).redemption.code
    assert (first, second) == ("AAAAA22222", "BBBBB33333")
    assert balance_of(citizen_id) == 10 and stock(reward_id) == 3
    assert reconcile().ok
