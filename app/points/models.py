"""Points ledger models: accounts, append-only entries, rewards with stock, redemptions with pickup codes.

The database guards the invariants that matter: a balance and a stock can never go below zero (CHECK), every
entry and every redemption has a unique key (a retried job or request has one effect). Balances and stock are only
changed by relative, conditional UPDATEs in app/points/services.py.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.events import utcnow
from app.extensions import UTCDateTime, db

REDEMPTION_STATUSES = ("issued", "collected", "cancelled", "expired")
REDEMPTION_LABELS = {"issued": "待领取", "collected": "已领取", "cancelled": "已取消", "expired": "已过期"}
# Redemptions that hold a unit of stock (and count towards the per-citizen limit).
HOLDING_STATUSES = ("issued", "collected")
ENTRY_REASONS = {
    "award": "案件核查通过",
    "award_duplicate": "重复举报（同一问题）",
    "reversal": "案件被认定为虚假举报，积分收回",
    "grant": "工作人员调整",
    "redeem": "兑换奖品",
    "refund_cancel": "取消兑换，积分退回",
    "refund_expire": "兑换码过期，积分退回",
}


class PointsAccount(db.Model):
    """One citizen's balance; changed only together with a PointsEntry, never below zero."""

    __tablename__ = "points_accounts"
    __table_args__ = (CheckConstraint("balance >= 0", name="balance_not_negative"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"), unique=True)
    balance: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PointsEntry(db.Model):
    """One line of the ledger (append-only: never updated or deleted)."""

    __tablename__ = "points_entries"
    __table_args__ = (Index("ix_points_entries_account_created", "account_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("points_accounts.id"))
    amount: Mapped[int] = mapped_column(Integer)  # signed: + earned, - spent
    balance_after: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(32))  # a key of ENTRY_REASONS
    reference: Mapped[str | None] = mapped_column(String(64))  # e.g. report:12, redemption:7
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    # A reversal that could not take back everything (the points were already spent) records what is missing.
    shortfall: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str | None] = mapped_column(String(200))
    actor: Mapped[str | None] = mapped_column(String(64))  # who: system | staff:<id> | citizen:<id> | cli
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Reward(db.Model):
    """A reward in the catalogue; `stock` is what is left, `total_stock` every unit ever put on the shelf."""

    __tablename__ = "rewards"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("cost > 0", name="cost_positive"),
        CheckConstraint("stock <= total_stock", name="stock_within_total"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(500), default="")
    picture_url: Mapped[str | None] = mapped_column(String(500))
    picture_sha256: Mapped[str | None] = mapped_column(String(64))
    cost: Mapped[int] = mapped_column(Integer)
    stock: Mapped[int] = mapped_column(Integer)
    total_stock: Mapped[int] = mapped_column(Integer)
    per_citizen_limit: Mapped[int | None] = mapped_column(Integer)  # None: no limit
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Redemption(db.Model):
    """A reward bought with points: a pickup code issued, then collected, cancelled or expired."""

    __tablename__ = "redemptions"
    __table_args__ = (
        UniqueConstraint("citizen_id", "idempotency_key"),
        Index("ix_redemptions_status_expires", "status", "expires_at"),
        CheckConstraint("status IN ('issued', 'collected', 'cancelled', 'expired')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"), index=True)
    reward_id: Mapped[int] = mapped_column(ForeignKey("rewards.id"), index=True)
    cost: Mapped[int] = mapped_column(Integer)
    balance_after: Mapped[int] = mapped_column(Integer)  # part of the first answer, replayed for the same key
    status: Mapped[str] = mapped_column(String(16), default="issued")
    idempotency_key: Mapped[str] = mapped_column(String(100))
    request_fingerprint: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    collected_by: Mapped[str | None] = mapped_column(String(64))
    collected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    reward: Mapped[Reward] = relationship(lazy="joined")
