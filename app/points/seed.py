"""Demo rewards and a few demo points (idempotent: safe to run again)."""

from __future__ import annotations

from sqlalchemy import func, select

from app.citizens.models import Citizen
from app.extensions import db
from app.points.models import Reward
from app.points.rewards import create_reward
from app.points.services import grant_points

DEMO_REWARDS = (
    ("环保购物袋", 20, 100, 2, "可重复使用的帆布袋"),
    ("公交一日票", 50, 50, 1, "江北区公交当日无限次乘坐"),
    ("文明市民徽章", 10, 200, None, "感谢你为城市出力"),
)


def seed_demo() -> list[str]:
    """Three demo rewards; 100 demo points for each demo citizen."""
    new = 0
    for name, cost, stock, limit, description in DEMO_REWARDS:
        if db.session.scalar(select(Reward.id).where(Reward.name == name)) is None:
            create_reward(name, cost, stock, limit, description=description)
            new += 1
    out = [f"rewards: {db.session.scalar(select(func.count()).select_from(Reward))} ({new} new)"]
    for citizen in db.session.scalars(select(Citizen).where(Citizen.openid.like("oDemoCitizen%"))).all():
        grant_points(citizen.id, 100, "演示积分", actor="seed", idempotency_key=f"seed:demo:{citizen.openid}")
    return out
