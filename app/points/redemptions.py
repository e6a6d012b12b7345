"""Redeeming rewards: debit + stock + pickup code in one transaction, cancel, pickup (核销), expiry.

Lock order is always account → redemption → reward, so no two use cases deadlock; the shared reward row is
updated last so its lock is held only for the final insert and the commit.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from app.events import utcnow
from app.extensions import db
from app.moderation.services import active_sanction
from app.points.errors import (
    AlreadyCollected,
    IdempotencyConflict,
    InsufficientPoints,
    NotYourRedemption,
    OutOfStock,
    OverLimit,
    PointsFrozen,
    RedemptionClosed,
    RedemptionNotFound,
    RewardNotFound,
    RewardUnavailable,
)
from app.points.ledger import check_idempotency_key, lock_account, post
from app.points.models import HOLDING_STATUSES, Redemption, Reward

# Pickup codes: 10 characters from an alphabet without look-alikes (0/O, 1/I/L): 31**10 ≈ 2**49.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 10


@dataclass(frozen=True)
class RedeemResult:
    """A redemption and whether it is the replay of an earlier request with the same key."""

    redemption: Redemption
    replayed: bool


def new_code() -> str:
    """A short, unguessable pickup code."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(code: str) -> str:
    """What staff or citizens type: case and separators do not matter."""
    return re.sub(r"[\s\-]", "", code or "").upper()


def check_available(reward: Reward, now: datetime) -> None:
    """RewardUnavailable unless the reward is active and inside its validity window."""
    if not reward.active:
        raise RewardUnavailable("该奖品已下架")
    if reward.valid_from and now < reward.valid_from:
        raise RewardUnavailable(f"该奖品 {reward.valid_from.astimezone(_tz()):%Y-%m-%d %H:%M} 起才能兑换")
    if reward.valid_until and now >= reward.valid_until:
        raise RewardUnavailable("该奖品的兑换期已结束")


def _tz() -> ZoneInfo:
    return ZoneInfo(current_app.config["TIMEZONE"])


def redeem(citizen_id: int, reward_id: int, idempotency_key: str | None, now: datetime | None = None) -> RedeemResult:
    """Debit the cost, take one from stock and issue a pickup code, in one transaction.

    Stripe-style idempotency: the same key (per citizen) returns the first redemption; the same key with a
    different reward is IdempotencyConflict. Refusals: InsufficientPoints, OutOfStock, OverLimit,
    RewardUnavailable (RewardNotFound). Refused requests store nothing, so a retry is decided afresh.
    """
    key = check_idempotency_key(idempotency_key)
    if active_sanction(citizen_id, kinds=("ban",)) is not None:
        raise PointsFrozen("您的积分暂时冻结，无法兑换。如有疑问，请拨打 12345 咨询。")
    fingerprint = hashlib.sha256(f"redeem|{int(reward_id)}".encode()).hexdigest()
    now = now or utcnow()
    for _ in range(5):
        try:
            return _redeem_once(citizen_id, reward_id, key, fingerprint, now)
        except IntegrityError as exc:
            # A pickup code drawn twice (about 1 in 2**49 per pair): draw again in a new transaction.
            if "uq_redemptions_code" not in str(exc.orig) and "redemptions.code" not in str(exc.orig):
                raise
    raise RuntimeError("could not allocate a unique pickup code")


def _redeem_once(citizen_id: int, reward_id: int, key: str, fingerprint: str, now: datetime) -> RedeemResult:
    try:
        account = lock_account(citizen_id)
        existing = db.session.scalar(
            select(Redemption).where(Redemption.citizen_id == citizen_id, Redemption.idempotency_key == key)
        )
        if existing is not None:
            if existing.request_fingerprint != fingerprint:
                raise IdempotencyConflict("这个请求编号已用于兑换另一件奖品")
            db.session.commit()
            return RedeemResult(existing, True)
        reward = db.session.get(Reward, reward_id, populate_existing=True)
        if reward is None:
            raise RewardNotFound("没有这个奖品")
        check_available(reward, now)
        if reward.per_citizen_limit is not None:
            held = db.session.scalar(
                select(func.count())
                .select_from(Redemption)
                .where(
                    Redemption.citizen_id == citizen_id,
                    Redemption.reward_id == reward.id,
                    Redemption.status.in_(HOLDING_STATUSES),
                )
            )
            if held >= reward.per_citizen_limit:
                raise OverLimit(f"每人最多兑换 {reward.per_citizen_limit} 份「{reward.name}」")
        if account is None or account.balance < reward.cost:
            have = account.balance if account else 0
            raise InsufficientPoints(f"积分不足：需要 {reward.cost} 分，当前 {have} 分")
        balance = post(
            account.id,
            -reward.cost,
            "redeem",
            f"redeem:{citizen_id}:{key}",
            reference=f"reward:{reward.id}",
            note=reward.name,
            actor=f"citizen:{citizen_id}",
        )
        # The shared reward row is taken last, so its lock is held only for the final inserts and the commit.
        taken = db.session.execute(
            update(Reward)
            .where(Reward.id == reward.id, Reward.stock >= 1)
            .values(stock=Reward.stock - 1)
            .returning(Reward.stock)
            .execution_options(synchronize_session=False)
        ).scalar_one_or_none()
        if taken is None:
            raise OutOfStock(f"「{reward.name}」已经兑完了")
        redemption = Redemption(
            code=new_code(),
            status="issued",
            citizen_id=citizen_id,
            reward_id=reward.id,
            cost=reward.cost,
            balance_after=balance,
            idempotency_key=key,
            request_fingerprint=fingerprint,
            expires_at=now + timedelta(days=current_app.config["POINTS_REDEMPTION_TTL_DAYS"]),
            created_at=now,
        )
        db.session.add(redemption)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return RedeemResult(redemption, False)


def _lock_redemption(code: str) -> Redemption:
    redemption = db.session.scalar(
        select(Redemption)
        .where(Redemption.code == normalize_code(code))
        .with_for_update(of=Redemption)  # not the joined reward row: lock order stays account → redemption → reward
        .execution_options(populate_existing=True)
    )
    if redemption is None:
        raise RedemptionNotFound("没有这个兑换码")
    return redemption


def _refuse_unless_issued(redemption: Redemption, now: datetime) -> None:
    if redemption.status == "collected":
        when = redemption.collected_at.astimezone(_tz()) if redemption.collected_at else None
        raise AlreadyCollected("该兑换码已领取过" + (f"（{when:%Y-%m-%d %H:%M}）" if when else ""))
    if redemption.status == "cancelled":
        raise RedemptionClosed("该兑换已取消")
    if redemption.status == "expired" or redemption.expires_at <= now:
        raise RedemptionClosed("该兑换码已过期")


def _release(redemption: Redemption, account_id: int, status: str, now: datetime) -> None:
    """Close an issued redemption as cancelled or expired: stock and points come back."""
    stamp = {"cancelled": {"cancelled_at": now}, "expired": {"expired_at": now}}[status]
    changed = db.session.execute(
        update(Redemption)
        .where(Redemption.id == redemption.id, Redemption.status == "issued")
        .values(status=status, **stamp)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        raise RedemptionClosed("该兑换已不能取消")
    db.session.execute(
        update(Reward)
        .where(Reward.id == redemption.reward_id)
        .values(stock=Reward.stock + 1)
        .execution_options(synchronize_session=False)
    )
    post(
        account_id,
        redemption.cost,
        "refund_cancel" if status == "cancelled" else "refund_expire",
        f"refund:redemption:{redemption.id}",
        reference=f"redemption:{redemption.code}",
        actor="system" if status == "expired" else f"citizen:{redemption.citizen_id}",
    )


def cancel_redemption(citizen_id: int, code: str, now: datetime | None = None) -> Redemption:
    """The citizen cancels before pickup: points and stock come back. Commits."""
    now = now or utcnow()
    try:
        account = lock_account(citizen_id)
        redemption = _lock_redemption(code)
        if redemption.citizen_id != citizen_id:
            raise NotYourRedemption("这不是你的兑换码")
        _refuse_unless_issued(redemption, now)
        _release(redemption, account.id, "cancelled", now)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    db.session.refresh(redemption)
    return redemption


def find_redemption(code: str) -> Redemption:
    """A redemption by pickup code (for the staff pickup page), or RedemptionNotFound."""
    redemption = db.session.scalar(select(Redemption).where(Redemption.code == normalize_code(code)))
    if redemption is None:
        raise RedemptionNotFound("没有这个兑换码")
    return redemption


def collect_redemption(code: str, collected_by: str, now: datetime | None = None) -> Redemption:
    """Staff hand the reward over (核销): issued → collected, once. Commits."""
    now = now or utcnow()
    try:
        redemption = _lock_redemption(code)
        _refuse_unless_issued(redemption, now)
        changed = db.session.execute(
            update(Redemption)
            .where(Redemption.id == redemption.id, Redemption.status == "issued")
            .values(status="collected", collected_at=now, collected_by=collected_by[:64])
            .execution_options(synchronize_session=False)
        ).rowcount
        if changed != 1:
            raise AlreadyCollected("该兑换码已领取过")
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    db.session.refresh(redemption)
    return redemption


def expire_redemptions(now: datetime | None = None, batch: int = 200) -> int:
    """Expire issued redemptions past their pickup deadline (points and stock back); returns how many."""
    now = now or utcnow()
    expired = 0
    while True:
        due = db.session.execute(
            select(Redemption.id, Redemption.citizen_id, Redemption.code)
            .where(Redemption.status == "issued", Redemption.expires_at <= now)
            .order_by(Redemption.id)
            .limit(batch)
        ).all()
        db.session.rollback()  # end the read; each expiry is its own transaction in lock order
        if not due:
            return expired
        for row in due:
            try:
                account = lock_account(row.citizen_id)
                redemption = _lock_redemption(row.code)
                if redemption.status == "issued" and redemption.expires_at <= now:
                    _release(redemption, account.id, "expired", now)
                    expired += 1
                db.session.commit()
            except Exception:
                db.session.rollback()
                raise
