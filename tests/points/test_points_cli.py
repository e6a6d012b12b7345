"""flask points … and flask rewards … commands."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.points.models import PointsAccount, Reward
from app.points.queries import balance_of
from app.points.services import redeem
from tests import factories
from tests.points.conftest import key


def test_grant_gives_and_takes_points_by_openid(app, runner):
    citizen_id = factories.citizen("oCliCitizen1").id
    result = runner.invoke(args=["points", "grant", "oCliCitizen1", "30", "--reason", "志愿活动"])
    assert result.exit_code == 0, result.output
    assert "oCliCitizen1: +30 points, balance 30" in result.output
    result = runner.invoke(args=["points", "grant", "oCliCitizen1", "-5", "--reason", "更正"])
    assert result.exit_code == 0, result.output
    assert balance_of(citizen_id) == 25


def test_grant_refuses_unknown_citizens_missing_reasons_and_overdrafts(app, runner):
    factories.citizen("oCliCitizen2")
    unknown = runner.invoke(args=["points", "grant", "oNobody", "5", "--reason", "x"])
    assert unknown.exit_code == 1 and "no citizen with openid 'oNobody'" in unknown.output
    no_reason = runner.invoke(args=["points", "grant", "oCliCitizen2", "5"])
    assert no_reason.exit_code == 2 and "--reason" in no_reason.output
    overdraft = runner.invoke(args=["points", "grant", "oCliCitizen2", "-5", "--reason", "x"])
    assert overdraft.exit_code == 1 and "insufficient_points" in overdraft.output


def test_rewards_create_adds_a_reward_and_refuses_bad_values(app, runner):
    args = ["rewards", "create", "公交一日票", "--cost", "50", "--stock", "20", "--per-citizen", "1"]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    reward = db.session.scalar(select(Reward))
    assert (reward.name, reward.cost, reward.stock, reward.total_stock, reward.per_citizen_limit) == (
        "公交一日票",
        50,
        20,
        20,
        1,
    )
    bad = runner.invoke(args=["rewards", "create", "坏奖品", "--cost", "0", "--stock", "1"])
    assert bad.exit_code == 1 and "所需积分必须大于 0" in bad.output


def test_reconcile_passes_on_a_clean_ledger_and_fails_listing_the_bad_accounts(app, runner, funded, reward):
    citizen_id = funded(30)
    redeem(citizen_id, reward(cost=10), key())
    ok = runner.invoke(args=["points", "reconcile"])
    assert ok.exit_code == 0 and "checked 1 account(s) and 1 reward(s): OK" in ok.output
    db.session.execute(PointsAccount.__table__.update().values(balance=99))
    db.session.commit()
    bad = runner.invoke(args=["points", "reconcile"])
    assert bad.exit_code == 1
    assert f"BAD account 1 (citizen {citizen_id}): balance 99 != entries 20" in bad.output


def test_expire_redemptions_reports_how_many(app, runner, funded, reward):
    from datetime import UTC, datetime, timedelta

    redeem(funded(10), reward(cost=10), key(), now=datetime.now(UTC) - timedelta(days=30))
    result = runner.invoke(args=["points", "expire-redemptions"])
    assert result.exit_code == 0 and "expired 1 redemption(s)" in result.output


def test_the_demo_seed_is_idempotent(app):
    from app.points.seed import seed_demo

    factories.citizen("oDemoCitizen0001")
    assert seed_demo() == ["rewards: 3 (3 new)"]
    assert seed_demo() == ["rewards: 3 (0 new)"]  # says what exists, adds nothing
    assert db.session.scalar(select(PointsAccount.balance)) == 100
