"""Domain exceptions of the points package: each has a machine `code`, an HTTP `status` and a Chinese `message`."""

from __future__ import annotations

# The largest value an Integer column holds on PostgreSQL: ids, amounts and stocks beyond it are the caller's error.
MAX_INT = 2**31 - 1


class PointsError(Exception):
    """A refused points operation; `code` for machines, `message` (Chinese) for the citizen or staff."""

    code = "points_error"
    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidRequest(PointsError):
    code, status = "invalid_request", 400


class PointsFrozen(PointsError):
    """The citizen is banned for now: their points cannot be spent."""

    code, status = "points_frozen", 403


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
