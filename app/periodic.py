"""Periodic jobs (run by rq's cron scheduler, see app/cron.py): small wrappers that take no arguments."""

from __future__ import annotations

from flask import current_app

from app.events import recover_stalled, sweep_outbox
from app.jobs import app_job
from app.reports.assessment import warm
from app.reports.callbacks import sweep_callbacks
from app.reports.services import sweep_overdue
from app.reports.supervision import sweep_deadlines


@app_job
def sweep_outbox_job() -> int:
    """Relay outbox events left behind (Redis was down, a process died after commit) and recover stalled ones."""
    relayed = sweep_outbox(grace_s=current_app.config["OUTBOX_SWEEP_GRACE_S"])
    recover_stalled(stall_s=current_app.config["OUTBOX_STALL_S"])
    return relayed


@app_job
def sweep_overdue_job() -> int:
    """Mark dispatched cases past their deadline as overdue (督办)."""
    return sweep_overdue()


@app_job
def sweep_deadlines_job() -> int:
    """督办: deadline warnings and escalations due now (each once per case and deadline)."""
    warnings, escalations = sweep_deadlines()
    return warnings + escalations


@app_job
def sweep_ticket_callbacks_job() -> int:
    """Ticket status callbacks due (retries after their backoff, deliveries whose job was lost)."""
    return sweep_callbacks()


@app_job
def warm_assessment_job() -> int:
    """综合评价: the command centre's default views computed and kept before anyone opens them (ASSESSMENT_WARM)."""
    return warm()
