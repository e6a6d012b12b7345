"""rq jobs of the poi package."""

from __future__ import annotations

from app.jobs import app_job
from app.poi.services import flush_scans


@app_job
def flush_scans_job() -> int:
    """Write the sign scans counted in Redis to signs.scan_count (safe to run any time, any number of times)."""
    return flush_scans()
