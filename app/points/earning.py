"""Earning points: awards for verified cases (ReportVerified), reversals (ReportInvalidated), staff grants.

The two subscribers run inside the event runner's transaction and never commit; grant_points owns its transaction.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.events import PointsAwarded, ReportInvalidated, ReportVerified, emit, utcnow
from app.extensions import db
from app.points.errors import IdempotencyConflict, InvalidRequest, UnknownCitizen
from app.points.ledger import check_idempotency_key, ensure_account, entry_by_key, lock_account, post
from app.points.models import PointsEntry


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
    ensure_account(evt.citizen_id)
    account = lock_account(evt.citizen_id)
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
    balance = post(
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
    ensure_account(evt.citizen_id)
    account = lock_account(evt.citizen_id)
    if entry_by_key(key) is not None:
        return 0
    award = entry_by_key(f"award:report:{evt.report_id}")
    earned = award.amount if award is not None else 0
    taken = min(earned, account.balance)
    post(
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
    cap = current_app.config["POINTS_GRANT_MAX"]
    if abs(amount) > cap:
        raise InvalidRequest(f"一次调整的积分不能超过 {cap}（POINTS_GRANT_MAX）")
    key = f"grant:{check_idempotency_key(idempotency_key) if idempotency_key else uuid.uuid4().hex}"
    try:
        ensure_account(citizen_id)
        account = lock_account(citizen_id)
        existing = entry_by_key(key)
        if existing is not None:
            if existing.amount != amount or existing.account_id != account.id:
                raise IdempotencyConflict("同一请求编号用于了不同的调整")
            db.session.commit()
            return existing
        post(account.id, amount, "grant", key, note=reason, actor=actor)
        entry = entry_by_key(key)
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise UnknownCitizen("没有这个市民") from exc
    except Exception:
        db.session.rollback()
        raise
    return entry
