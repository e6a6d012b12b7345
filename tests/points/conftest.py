"""Fixtures for the points tests: citizens with points, rewards, signed-in clients, a concurrent runner."""

from __future__ import annotations

import threading
import uuid

import pytest

from app.citizens.services import create_staff_user
from app.events import ReportVerified
from app.extensions import db
from app.points.rewards import create_reward
from app.points.services import grant_points
from tests import factories


@pytest.fixture
def funded():
    """Make a citizen holding `points` points (through a staff grant); returns the citizen id."""

    def make(points: int = 100, openid: str | None = None) -> int:
        citizen = factories.citizen(openid)
        if points:
            grant_points(citizen.id, points, "测试积分", actor="test")
        return citizen.id

    return make


@pytest.fixture
def reward():
    """Make a reward (cost 10, stock 5 unless told); returns the reward id."""

    def make(name: str = "环保购物袋", cost: int = 10, stock: int = 5, per_citizen: int | None = None, **kw) -> int:
        return create_reward(name, cost, stock, per_citizen, **kw).id

    return make


@pytest.fixture
def staff(app):
    """A staff user (dispatcher) for the pickup page and API."""
    user, _ = create_staff_user(f"picker{uuid.uuid4().hex[:6]}", "dispatcher", "pickup-pass-1")
    return user


def sign_in(client, citizen_id: int) -> None:
    """What WeChat OAuth leaves in the session (the bot package builds the real flow)."""
    with client.session_transaction() as sess:
        sess["citizen_id"] = citizen_id


def sign_in_staff(client, staff_id: int) -> None:
    """What the console login leaves in the session: the id of a server-side staff session."""
    from app.citizens.auth import STAFF_SESSION_KEY
    from app.citizens.sessions import start_session

    with client.session_transaction() as sess:
        sess[STAFF_SESSION_KEY] = start_session(staff_id)


def verified(report_id: int, citizen_id: int | None, category: str | None = "E0504", duplicate_of: int | None = None):
    """A ReportVerified event as the reports package emits it."""
    return ReportVerified(report_id=report_id, citizen_id=citizen_id, category=category, duplicate_of=duplicate_of)


def key() -> str:
    """A fresh idempotency key."""
    return uuid.uuid4().hex


@pytest.fixture
def concurrently(app):
    """Run fn(i) for i in range(n) in n threads released together by a barrier; returns results or exceptions."""

    def run(n: int, fn) -> list:
        db.session.commit()  # SQLite: the test's own transaction would hold the write lock
        barrier = threading.Barrier(n)
        results: list = [None] * n

        def worker(i: int) -> None:
            with app.app_context():
                try:
                    barrier.wait()
                    results[i] = fn(i)
                except Exception as exc:
                    results[i] = exc
                finally:
                    db.session.remove()

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        db.session.expire_all()
        return results

    return run


def books() -> tuple[list, list, list]:
    """Every balance, stock and redemption (code, status) there is: what a refusal must leave as it was."""
    from sqlalchemy import select

    from app.points.models import PointsAccount, PointsEntry, Redemption, Reward

    db.session.expire_all()
    accounts = db.session.execute(select(PointsAccount.citizen_id, PointsAccount.balance)
                                  .order_by(PointsAccount.citizen_id)).all()
    entries = db.session.execute(select(PointsEntry.id, PointsEntry.amount).order_by(PointsEntry.id)).all()
    rows = db.session.execute(select(Reward.id, Reward.stock, Redemption.code, Redemption.status)
                              .outerjoin(Redemption, Redemption.reward_id == Reward.id).order_by(Reward.id)).all()
    return accounts, entries, rows
