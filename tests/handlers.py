"""A subscriber used by the event tests: its one visible effect is a citizen row named after the event."""

from app.citizens.models import Citizen
from app.extensions import db


def record_submission(evt) -> None:
    """Leave one trace per handled ReportSubmitted (no commit: the job's transaction owns it)."""
    db.session.add(Citizen(openid=f"evt-{evt.report_id}"))
