"""Earning points: verified cases, duplicates, the daily cap, per-category rules, reversals, staff grants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.events import OutboxEvent
from app.extensions import db
from app.points.models import PointsEntry
from app.points.queries import balance_of, reconcile
from app.points.services import (
    IdempotencyConflict,
    InsufficientPoints,
    InvalidRequest,
    award_points_for,
    grant_points,
    redeem,
    reverse_points_for,
)
from app.reports.services import transition
from tests import factories
from tests.points.conftest import key, verified


def award(evt, **kw):
    amount = award_points_for(evt, **kw)
    db.session.commit()
    return amount


def reverse(report_id, citizen_id, reason="虚假举报"):
    from app.events import ReportInvalidated

    taken = reverse_points_for(ReportInvalidated(report_id=report_id, citizen_id=citizen_id, reason=reason))
    db.session.commit()
    return taken


def entries(citizen_id=None):
    return db.session.scalars(select(PointsEntry).order_by(PointsEntry.id)).all()


def test_a_verified_case_earns_ten_points_and_tells_the_citizen(app):
    citizen_id = factories.citizen().id
    assert award(verified(1, citizen_id)) == 10
    assert balance_of(citizen_id) == 10
    (entry,) = entries()
    assert (entry.reason, entry.reference, entry.idempotency_key) == ("award", "report:1", "award:report:1")
    told = db.session.scalar(select(OutboxEvent).where(OutboxEvent.name == "PointsAwarded"))
    assert told.payload == {"citizen_id": citizen_id, "report_id": 1, "amount": 10, "balance": 10}


def test_a_duplicate_of_a_verified_case_earns_one_point(app):
    citizen_id = factories.citizen().id
    assert award(verified(2, citizen_id, duplicate_of=1)) == 1
    assert entries()[0].reason == "award_duplicate"


def test_a_case_without_a_citizen_earns_nothing(app):
    assert award(verified(3, None)) == 0
    assert entries() == []


def test_the_same_case_verified_again_after_a_reopen_earns_nothing_more(app):
    citizen_id = factories.citizen().id
    assert award(verified(4, citizen_id)) == 10
    assert award(verified(4, citizen_id)) == 0
    assert balance_of(citizen_id) == 10 and len(entries()) == 1


def test_the_daily_cap_limits_a_citizens_awards_and_records_the_capped_case(app):
    app.config["POINTS_DAILY_CAP"] = 25
    citizen_id = factories.citizen().id
    assert [award(verified(n, citizen_id)) for n in (10, 11, 12, 13)] == [10, 10, 5, 0]
    assert balance_of(citizen_id) == 25
    capped = entries()[-1]
    assert (capped.amount, capped.note) == (0, "已达今日积分上限")
    told = select(func.count()).select_from(OutboxEvent).where(OutboxEvent.name == "PointsAwarded")
    assert db.session.scalar(told) == 3


def test_the_daily_cap_starts_again_the_next_local_day(app):
    app.config["POINTS_DAILY_CAP"] = 10
    citizen_id = factories.citizen().id
    award(verified(20, citizen_id))
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    # The entry is stamped with the real time; tomorrow's local day starts after it.
    assert award(verified(21, citizen_id), now=tomorrow) == 10


def test_per_category_rules_override_the_defaults_by_subclass_then_class(app):
    app.config["POINTS_CATEGORY_RULES"] = '{"E0504": {"valid": 30}, "E02": {"valid": 4, "duplicate": 2}}'
    citizen_id = factories.citizen().id
    assert award(verified(30, citizen_id, category="E0504")) == 30
    assert award(verified(31, citizen_id, category="E0504", duplicate_of=30)) == 1
    assert award(verified(32, citizen_id, category="E0201")) == 4
    assert award(verified(33, citizen_id, category="E0201", duplicate_of=32)) == 2
    assert award(verified(34, citizen_id, category=None)) == 10


def test_a_reversal_takes_back_what_the_case_earned(app):
    citizen_id = factories.citizen().id
    award(verified(40, citizen_id))
    assert reverse(40, citizen_id) == 10
    assert balance_of(citizen_id) == 0
    last = entries()[-1]
    assert (last.amount, last.reason, last.shortfall, last.note) == (-10, "reversal", 0, "虚假举报")


def test_a_reversal_of_spent_points_empties_the_balance_and_records_the_shortfall(app, reward):
    citizen_id = factories.citizen().id
    award(verified(41, citizen_id))
    redeem(citizen_id, reward(cost=7), key())
    assert reverse(41, citizen_id) == 3
    assert balance_of(citizen_id) == 0
    assert entries()[-1].shortfall == 7
    assert reconcile().ok


def test_a_reversal_twice_takes_back_once(app):
    citizen_id = factories.citizen().id
    award(verified(42, citizen_id))
    award(verified(43, citizen_id))
    assert reverse(42, citizen_id) == 10
    assert reverse(42, citizen_id) == 0
    assert balance_of(citizen_id) == 10


def test_a_reversal_that_arrives_before_its_award_blocks_the_award(app):
    citizen_id = factories.citizen().id
    assert reverse(44, citizen_id) == 0
    assert award(verified(44, citizen_id)) == 0
    assert balance_of(citizen_id) == 0


def test_a_case_verified_through_the_workflow_earns_points_for_its_reporter_and_its_duplicates(app, run_jobs):
    admin = factories.actor("admin")
    first = factories.report()
    dup = factories.report(description="水果摊占了人行道")
    transition(dup.id, "mark_duplicate", admin, duplicate_of=first.id)
    for action, note in (("register", None), ("dispatch", None), ("handle", "已劝离"), ("verify", None)):
        transition(first.id, action, admin, note=note)
    run_jobs()
    assert balance_of(first.citizen_id) == 10
    assert balance_of(dup.citizen_id) == 1
    transition(first.id, "invalidate", admin, note="现场核实为虚假举报")
    run_jobs()
    assert balance_of(first.citizen_id) == 0
    assert balance_of(dup.citizen_id) == 1


def test_a_cancelled_case_earns_nothing(app, run_jobs):
    admin = factories.actor("admin")
    case = factories.report()
    transition(case.id, "cancel", admin, cancel_reason="invalid", note="无效")
    run_jobs()
    assert balance_of(case.citizen_id) == 0
    assert entries() == []


def test_staff_grants_and_adjustments_are_entries_with_a_reason(app):
    citizen_id = factories.citizen().id
    grant_points(citizen_id, 20, "活动奖励", actor="staff:1")
    entry = grant_points(citizen_id, -5, "误发更正", actor="staff:1")
    assert (entry.amount, entry.balance_after, entry.note, entry.actor) == (-5, 15, "误发更正", "staff:1")


@pytest.mark.parametrize(
    ("amount", "reason", "error", "message"),
    [
        (10, "", InvalidRequest, "必须填写原因"),
        (10, "   ", InvalidRequest, "必须填写原因"),
        (0, "归零", InvalidRequest, "不能为 0"),
        (-11, "扣除", InsufficientPoints, "积分不足"),
    ],
)
def test_bad_grants_are_refused_with_a_clear_message(app, amount, reason, error, message):
    citizen_id = factories.citizen().id
    grant_points(citizen_id, 10, "起始", actor="test")
    with pytest.raises(error, match=message):
        grant_points(citizen_id, amount, reason, actor="test")
    assert balance_of(citizen_id) == 10


def test_a_grant_repeated_with_its_key_has_one_effect_and_a_changed_one_is_refused(app):
    citizen_id = factories.citizen().id
    grant_points(citizen_id, 10, "活动", actor="test", idempotency_key="event-2026-11")
    grant_points(citizen_id, 10, "活动", actor="test", idempotency_key="event-2026-11")
    assert balance_of(citizen_id) == 10
    with pytest.raises(IdempotencyConflict):
        grant_points(citizen_id, 20, "活动", actor="test", idempotency_key="event-2026-11")


def test_a_grant_with_a_malformed_key_is_refused(app):
    citizen_id = factories.citizen().id
    with pytest.raises(InvalidRequest, match="Idempotency-Key"):
        grant_points(citizen_id, 10, "活动", actor="test", idempotency_key="k" * 300)
