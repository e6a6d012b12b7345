"""Points use cases: earning, reversals, staff grants, redemption, cancellation, pickup (核销), expiry.

Correctness under concurrency (docs/points.md, docs/reliability.md): every change of a balance or a stock is a
relative, conditional UPDATE (`balance = balance - :c WHERE balance >= :c`), never a value computed in Python; the
citizen's account row is locked first (SELECT ... FOR UPDATE; SQLite's BEGIN IMMEDIATE serializes writers) so that
idempotency checks, per-citizen limits and daily caps are decided one request at a time per citizen; every entry has
a unique key, so a retried job or request has one effect. Lock order is always account → redemption → reward.
Event subscribers (award_points_for, reverse_points_for) run inside the event runner's transaction and never commit;
every other use case owns one transaction.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from app.events import PointsAwarded, ReportInvalidated, ReportVerified, emit, utcnow
from app.extensions import db
from app.points.models import HOLDING_STATUSES, PointsAccount, PointsEntry, Redemption, Reward

# Pickup codes: 10 characters from an alphabet without look-alikes (0/O, 1/I/L): 31**10 ≈ 2**49.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 10
IDEMPOTENCY_KEY_RE = re.compile(r"^[A-Za-z0-9_.:\-]{8,100}$")


# ---------------------------------------------------------------------------------------------- exceptions


class PointsError(Exception):
    """A refused points operation; `code` for machines, `message` (Chinese) for the citizen or staff."""

    code = "points_error"
    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidRequest(PointsError):
    code, status = "invalid_request", 400


class InsufficientPoints(PointsError):
    code, status = "insufficient_points", 409


class OutOfStock(PointsError):
    code, status = "out_of_stock", 409


class OverLimit(PointsError):
    code, status = "over_limit", 409


class RewardUnavailable(PointsError):
    code, status = "reward_unavailable", 409


class RewardNotFound(RewardUnavailable):
    code, status = "reward_not_found", 404


class RedemptionNotFound(PointsError):
    code, status = "redemption_not_found", 404


class NotYourRedemption(PointsError):
    code, status = "not_your_redemption", 403


class AlreadyCollected(PointsError):
    code, status = "already_collected", 409


class RedemptionClosed(PointsError):
    code, status = "redemption_closed", 409


class IdempotencyConflict(PointsError):
    code, status = "idempotency_conflict", 422


class UnknownCitizen(PointsError):
    code, status = "unknown_citizen", 404


# ---------------------------------------------------------------------------------------------- ledger core


def _ensure_account(citizen_id: int) -> None:
    """Create the citizen's account if missing (safe when two transactions race: ON CONFLICT DO NOTHING)."""
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    db.session.execute(
        insert(PointsAccount)
        .values(citizen_id=citizen_id, balance=0, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["citizen_id"])
    )


def _lock_account(citizen_id: int) -> PointsAccount | None:
    """The citizen's account, locked for this transaction and freshly read (None when there is none)."""
    return db.session.scalar(
        select(PointsAccount)
        .where(PointsAccount.citizen_id == citizen_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _entry(key: str) -> PointsEntry | None:
    return db.session.scalar(select(PointsEntry).where(PointsEntry.idempotency_key == key))


def _post(
    account_id: int,
    amount: int,
    reason: str,
    key: str,
    *,
    reference: str | None = None,
    note: str | None = None,
    actor: str | None = None,
    shortfall: int = 0,
) -> int:
    """Change a balance by `amount` (relative, conditional) and append its entry; returns the new balance."""
    stmt = update(PointsAccount).where(PointsAccount.id == account_id)
    if amount < 0:
        stmt = stmt.where(PointsAccount.balance >= -amount)
    stmt = stmt.values(balance=PointsAccount.balance + amount).returning(PointsAccount.balance)
    balance = db.session.execute(stmt.execution_options(synchronize_session=False)).scalar_one_or_none()
    if balance is None:
        raise InsufficientPoints("积分不足")
    db.session.add(
        PointsEntry(
            account_id=account_id,
            amount=amount,
            balance_after=balance,
            reason=reason,
            reference=reference,
            idempotency_key=key,
            note=(note or None) and note[:200],
            actor=actor,
            shortfall=shortfall,
        )
    )
    return balance


# ---------------------------------------------------------------------------------------------- earning


@dataclass(frozen=True)
class AwardRule:
    """Points for a verified case and for a duplicate of one."""

    valid: int
    duplicate: int


def award_rule(category: str | None) -> AwardRule:
    """The rule for a category: the per-category override (subclass, then class) or the defaults."""
    cfg = current_app.config
    rules = cfg.get("POINTS_CATEGORY_RULES") or {}
    if isinstance(rules, str):
        rules = json.loads(rules)
    base = {"valid": cfg["POINTS_VALID_CASE"], "duplicate": cfg["POINTS_DUPLICATE_CASE"]}
    for code in (category, category[:3] if category else None):
        if code and code in rules:
            base.update({k: int(v) for k, v in rules[code].items() if k in base})
            break
    return AwardRule(**base)


def local_day_start(now: datetime) -> datetime:
    """Midnight of `now`'s day in the configured time zone, as an aware datetime."""
    tz = ZoneInfo(current_app.config["TIMEZONE"])
    local = now.astimezone(tz)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def award_points_for(evt: ReportVerified, now: datetime | None = None) -> int:
    """Subscriber of ReportVerified: award the case's reporter once (key award:report:<id>); returns the amount.

    Full points for a verified case, the duplicate rate for a duplicate of it, never above the daily cap (a capped
    award is recorded as a 0-point entry so that it stays decided). Nothing when the case was already reversed.
    Runs in the caller's transaction (the event runner commits).
    """
    if evt.citizen_id is None:
        return 0
    now = now or utcnow()
    key = f"award:report:{evt.report_id}"
    _ensure_account(evt.citizen_id)
    account = _lock_account(evt.citizen_id)
    decided = select(PointsEntry.id).where(PointsEntry.idempotency_key.in_((key, f"reversal:report:{evt.report_id}")))
    if db.session.scalar(decided.limit(1)) is not None:
        return 0
    rule = award_rule(evt.category)
    wanted = rule.duplicate if evt.duplicate_of else rule.valid
    today = db.session.scalar(
        select(func.coalesce(func.sum(PointsEntry.amount), 0)).where(
            PointsEntry.account_id == account.id,
            PointsEntry.reason.in_(("award", "award_duplicate")),
            PointsEntry.created_at >= local_day_start(now),
        )
    )
    amount = max(0, min(wanted, current_app.config["POINTS_DAILY_CAP"] - today))
    balance = _post(
        account.id,
        amount,
        "award_duplicate" if evt.duplicate_of else "award",
        key,
        reference=f"report:{evt.report_id}",
        note="已达今日积分上限" if amount < wanted else None,
        actor="system",
    )
    if amount > 0:
        emit(PointsAwarded(citizen_id=evt.citizen_id, report_id=evt.report_id, amount=amount, balance=balance))
    return amount


def reverse_points_for(evt: ReportInvalidated) -> int:
    """Subscriber of ReportInvalidated: take back what the case earned, at most the balance; returns points taken.

    When the points were already spent the balance goes to zero, never below, and the entry records the shortfall
    (written off; see docs/points.md). A reversal recorded before its award blocks the award. No commit.
    """
    if evt.citizen_id is None:
        return 0
    key = f"reversal:report:{evt.report_id}"
    _ensure_account(evt.citizen_id)
    account = _lock_account(evt.citizen_id)
    if _entry(key) is not None:
        return 0
    award = _entry(f"award:report:{evt.report_id}")
    earned = award.amount if award is not None else 0
    taken = min(earned, account.balance)
    _post(
        account.id,
        -taken,
        "reversal",
        key,
        reference=f"report:{evt.report_id}",
        note=evt.reason,
        actor="system",
        shortfall=earned - taken,
    )
    return taken


def grant_points(
    citizen_id: int, amount: int, reason: str, actor: str, idempotency_key: str | None = None
) -> PointsEntry:
    """Staff adjustment (positive or negative) with a reason; a reused key returns the first entry. Commits."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidRequest("调整积分必须填写原因")
    if amount == 0:
        raise InvalidRequest("调整的积分不能为 0")
    key = f"grant:{idempotency_key or uuid.uuid4().hex}"
    try:
        _ensure_account(citizen_id)
        account = _lock_account(citizen_id)
        existing = _entry(key)
        if existing is not None:
            if existing.amount != amount or existing.account_id != account.id:
                raise IdempotencyConflict("同一请求编号用于了不同的调整")
            db.session.commit()
            return existing
        _post(account.id, amount, "grant", key, note=reason, actor=actor)
        entry = _entry(key)
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise UnknownCitizen("没有这个市民") from exc
    except Exception:
        db.session.rollback()
        raise
    return entry


# ---------------------------------------------------------------------------------------------- redemption


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


def check_idempotency_key(key: str | None) -> str:
    """The key as given, or InvalidRequest when it is missing or malformed."""
    if not key or not IDEMPOTENCY_KEY_RE.match(key):
        raise InvalidRequest("需要 Idempotency-Key（8–100 位字母、数字或 _ . : -）")
    return key


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
        account = _lock_account(citizen_id)
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
        balance = _post(
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
    _post(
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
        account = _lock_account(citizen_id)
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
                account = _lock_account(row.citizen_id)
                redemption = _lock_redemption(row.code)
                if redemption.status == "issued" and redemption.expires_at <= now:
                    _release(redemption, account.id, "expired", now)
                    expired += 1
                db.session.commit()
            except Exception:
                db.session.rollback()
                raise
