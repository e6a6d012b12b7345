"""The rewards catalogue: create, restock, switch on and off (admins, scripts), list what citizens can redeem."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select, update

from app.events import utcnow
from app.extensions import db
from app.points.errors import InvalidRequest, OutOfStock, RewardNotFound
from app.points.models import Reward


def create_reward(
    name: str,
    cost: int,
    stock: int,
    per_citizen_limit: int | None = None,
    *,
    description: str = "",
    picture_url: str | None = None,
    picture_sha256: str | None = None,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    active: bool = True,
) -> Reward:
    """Add a reward to the catalogue (InvalidRequest for each bad value). Commits."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise InvalidRequest("奖品名称不能为空，最多 100 个字")
    if cost is None or cost <= 0:
        raise InvalidRequest("所需积分必须大于 0")
    if stock is None or stock < 0:
        raise InvalidRequest("库存不能为负数")
    if per_citizen_limit is not None and per_citizen_limit < 1:
        raise InvalidRequest("每人限兑数量至少为 1")
    if valid_from and valid_until and valid_until <= valid_from:
        raise InvalidRequest("兑换截止时间必须晚于开始时间")
    reward = Reward(
        name=name,
        cost=cost,
        stock=stock,
        total_stock=stock,
        per_citizen_limit=per_citizen_limit,
        description=description,
        picture_url=picture_url,
        picture_sha256=picture_sha256,
        valid_from=valid_from,
        valid_until=valid_until,
        active=active,
    )
    db.session.add(reward)
    db.session.commit()
    return reward


def restock(reward_id: int, delta: int) -> Reward:
    """Add units (or take unsold units off the shelf with a negative delta); stock and total move together."""
    stmt = update(Reward).where(Reward.id == reward_id)
    if delta < 0:
        stmt = stmt.where(Reward.stock >= -delta)
    stmt = stmt.values(stock=Reward.stock + delta, total_stock=Reward.total_stock + delta).returning(Reward.id)
    try:
        done = db.session.execute(stmt.execution_options(synchronize_session=False)).scalar_one_or_none()
        if done is None:
            if db.session.get(Reward, reward_id) is None:
                raise RewardNotFound("没有这个奖品")
            raise OutOfStock("库存不足，不能减少这么多")
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return db.session.get(Reward, reward_id, populate_existing=True)


def set_active(reward_id: int, active: bool) -> Reward:
    """Put a reward on or off the shelf. Commits."""
    reward = db.session.get(Reward, reward_id)
    if reward is None:
        raise RewardNotFound("没有这个奖品")
    reward.active = active
    db.session.commit()
    return reward


def available_rewards(now: datetime | None = None) -> list[Reward]:
    """Active rewards inside their validity window, cheapest first (sold-out ones included, shown as such)."""
    now = now or utcnow()
    return list(
        db.session.scalars(
            select(Reward)
            .where(
                Reward.active.is_(True),
                or_(Reward.valid_from.is_(None), Reward.valid_from <= now),
                or_(Reward.valid_until.is_(None), Reward.valid_until > now),
            )
            .order_by(Reward.cost, Reward.id)
        )
    )
