"""A case's handling deadline (处置时限): its category's time limit, or the source's own deadline when a 12345
platform pushed the case with an earlier one (the hotline's 办结时限 binds the department), and the warning time."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.reports.models import Report
from app.reports.ticket_models import Ticket


def case_deadline(report: Report, start: datetime, hours: float) -> tuple[datetime, str]:
    """(deadline, where it came from): `start` + the time limit, or the ticket's deadline when that is earlier."""
    own = start + timedelta(hours=hours)
    external = db.session.scalar(select(Ticket.deadline_at).where(Ticket.report_id == report.id)) if report.id else None
    if external is not None and external < own:
        return external, "ticket"
    return own, "category"


def warn_time(start: datetime, deadline: datetime) -> datetime:
    """When the warning falls due: DEADLINE_WARNING_SHARE of the time from `start` to `deadline` has passed."""
    share = current_app.config["DEADLINE_WARNING_SHARE"]
    return start + (deadline - start) * share
