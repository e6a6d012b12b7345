"""rq jobs of the points package (take no state, safe to run twice)."""

from __future__ import annotations

from app.jobs import app_job
from app.points.services import expire_redemptions


@app_job
def expire_redemptions_job() -> int:
    """Periodic: expire overdue pickup codes (points and stock back)."""
    return expire_redemptions()
