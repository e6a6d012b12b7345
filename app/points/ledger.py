"""The ledger core: an account per citizen, locked first; balances changed only by relative conditional UPDATEs.

Every balance change goes through `post`, which updates the account and appends its entry in the caller's
transaction; the database refuses a negative balance (CHECK) and a reused entry key (UNIQUE).
"""

from __future__ import annotations

import re

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.events import utcnow
from app.extensions import db
from app.points.errors import InsufficientPoints, InvalidRequest
from app.points.models import PointsAccount, PointsEntry

IDEMPOTENCY_KEY_RE = re.compile(r"[A-Za-z0-9_.:\-]{8,100}")


def check_idempotency_key(key: str | None) -> str:
    """The key as given, or InvalidRequest when it is missing or malformed."""
    if not key or not IDEMPOTENCY_KEY_RE.fullmatch(key):
        raise InvalidRequest("需要 Idempotency-Key（8–100 位字母、数字或 _ . : -）")
    return key


def ensure_account(citizen_id: int) -> None:
    """Create the citizen's account if missing (safe when two transactions race: ON CONFLICT DO NOTHING)."""
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    db.session.execute(
        insert(PointsAccount)
        .values(citizen_id=citizen_id, balance=0, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["citizen_id"])
    )


def lock_account(citizen_id: int) -> PointsAccount | None:
    """The citizen's account, locked for this transaction and freshly read (None when there is none)."""
    return db.session.scalar(
        select(PointsAccount)
        .where(PointsAccount.citizen_id == citizen_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def entry_by_key(key: str) -> PointsEntry | None:
    """The entry with this idempotency key, if any."""
    return db.session.scalar(select(PointsEntry).where(PointsEntry.idempotency_key == key))


def post(
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
