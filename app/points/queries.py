"""Read-only views of the ledger for pages and the API: balances, history, redemptions, reconciliation."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select

from app.extensions import db
from app.points.models import HOLDING_STATUSES, PointsAccount, PointsEntry, Redemption, Reward


def balance_of(citizen_id: int) -> int:
    """The citizen's balance (0 before their first entry)."""
    return db.session.scalar(select(PointsAccount.balance).where(PointsAccount.citizen_id == citizen_id)) or 0


def recent_entries(citizen_id: int, limit: int = 50) -> list[PointsEntry]:
    """The citizen's latest ledger entries, newest first."""
    return list(
        db.session.scalars(
            select(PointsEntry)
            .join(PointsAccount, PointsAccount.id == PointsEntry.account_id)
            .where(PointsAccount.citizen_id == citizen_id)
            .order_by(PointsEntry.id.desc())
            .limit(limit)
        )
    )


def redemptions_of(citizen_id: int, limit: int = 100) -> list[Redemption]:
    """The citizen's redemptions, newest first."""
    return list(
        db.session.scalars(
            select(Redemption).where(Redemption.citizen_id == citizen_id).order_by(Redemption.id.desc()).limit(limit)
        )
    )


@dataclass
class Reconciliation:
    """What `flask points reconcile` found: accounts and rewards whose numbers do not add up."""

    accounts_checked: int = 0
    rewards_checked: int = 0
    bad_accounts: list[dict] = field(default_factory=list)
    bad_rewards: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every balance equals its entries and every stock its redemptions."""
        return not self.bad_accounts and not self.bad_rewards


def reconcile() -> Reconciliation:
    """Check balance == sum(entries) per account and stock == total_stock − held redemptions per reward."""
    out = Reconciliation()
    sums = (
        select(PointsEntry.account_id, func.sum(PointsEntry.amount).label("total"))
        .group_by(PointsEntry.account_id)
        .subquery()
    )
    rows = db.session.execute(
        select(PointsAccount.id, PointsAccount.citizen_id, PointsAccount.balance, func.coalesce(sums.c.total, 0))
        .outerjoin(sums, sums.c.account_id == PointsAccount.id)
        .order_by(PointsAccount.id)
    ).all()
    for account_id, citizen_id, balance, total in rows:
        out.accounts_checked += 1
        if balance != total:
            out.bad_accounts.append(
                {"account_id": account_id, "citizen_id": citizen_id, "balance": balance, "entries_sum": int(total)}
            )
    held = (
        select(Redemption.reward_id, func.count().label("held"))
        .where(Redemption.status.in_(HOLDING_STATUSES))
        .group_by(Redemption.reward_id)
        .subquery()
    )
    rows = db.session.execute(
        select(Reward.id, Reward.name, Reward.stock, Reward.total_stock, func.coalesce(held.c.held, 0))
        .outerjoin(held, held.c.reward_id == Reward.id)
        .order_by(Reward.id)
    ).all()
    for reward_id, name, stock, total, n_held in rows:
        out.rewards_checked += 1
        if stock != total - n_held:
            out.bad_rewards.append(
                {"reward_id": reward_id, "name": name, "stock": stock, "expected": int(total - n_held)}
            )
    db.session.rollback()  # end the read transaction (SQLite: it holds the write lock)
    return out
