"""Points use cases: earning, reversals, staff grants, redemption, cancellation, pickup (核销), expiry.

Correctness under concurrency (docs/points.md, docs/reliability.md): every change of a balance or a stock is a
relative, conditional UPDATE (`balance = balance - :c WHERE balance >= :c`), never a value computed in Python; the
citizen's account row is locked first (SELECT ... FOR UPDATE; SQLite's BEGIN IMMEDIATE serializes writers) so that
idempotency checks, per-citizen limits and daily caps are decided one request at a time per citizen; every entry has
a unique key, so a retried job or request has one effect. Lock order is always account → redemption → reward.
Event subscribers (award_points_for, reverse_points_for) run inside the event runner's transaction and never commit;
every other use case owns one transaction.

This module is the package's public face: the use cases live in earning.py and redemptions.py, the ledger core in
ledger.py and the exceptions in errors.py; callers (routes, CLI, other packages, SUBSCRIPTIONS) import from here.
"""

from __future__ import annotations

from app.points.earning import AwardRule, award_points_for, award_rule, grant_points, reverse_points_for
from app.points.errors import (
    MAX_INT,
    AlreadyCollected,
    IdempotencyConflict,
    InsufficientPoints,
    InvalidRequest,
    NotYourRedemption,
    OutOfStock,
    OverLimit,
    PointsError,
    RedemptionClosed,
    RedemptionNotFound,
    RewardNotFound,
    RewardUnavailable,
    UnknownCitizen,
)
from app.points.ledger import check_idempotency_key
from app.points.redemptions import (
    CODE_ALPHABET,
    RedeemResult,
    cancel_redemption,
    collect_redemption,
    expire_redemptions,
    find_redemption,
    new_code,
    normalize_code,
    redeem,
)

__all__ = [
    "CODE_ALPHABET",
    "MAX_INT",
    "AlreadyCollected",
    "AwardRule",
    "IdempotencyConflict",
    "InsufficientPoints",
    "InvalidRequest",
    "NotYourRedemption",
    "OutOfStock",
    "OverLimit",
    "PointsError",
    "RedeemResult",
    "RedemptionClosed",
    "RedemptionNotFound",
    "RewardNotFound",
    "RewardUnavailable",
    "UnknownCitizen",
    "award_points_for",
    "award_rule",
    "cancel_redemption",
    "check_idempotency_key",
    "collect_redemption",
    "expire_redemptions",
    "find_redemption",
    "grant_points",
    "new_code",
    "normalize_code",
    "redeem",
    "reverse_points_for",
]
