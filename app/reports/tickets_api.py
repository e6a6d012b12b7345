"""The ticket API (docs/tickets.md): POST /api/staff/tickets and GET /api/staff/tickets/<source>/<external_id>."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from app.citizens.auth import api_staff_required
from app.extensions import api_timestamp, csrf, db
from app.reports import queries
from app.reports.callbacks import callback_counts
from app.reports.models import Report
from app.reports.staff_api import case_summary, error
from app.reports.ticket_models import Ticket
from app.reports.tickets import find_ticket, intake_ticket
from app.reports.workflow import ReportError

bp = Blueprint("tickets_api", __name__, url_prefix="/api/staff/tickets")
csrf.exempt(bp)

INTAKE_ROLES = ("dispatcher", "operator")


def ticket_json(ticket: Ticket, report: Report) -> dict:
    """A ticket with its case's number, id and state (never the private contact)."""
    return {
        "id": report.id,
        "case_number": report.case_number,
        "source": ticket.source,
        "external_id": ticket.external_id,
        "status": report.status,
        "deadline": api_timestamp(ticket.deadline_at),
        "created_at": api_timestamp(ticket.created_at),
    }


@bp.post("")
@api_staff_required(*INTAKE_ROLES)
def create_ticket():
    """A pushed ticket: 201 with the new case, 200 with the same case when the push is a retry."""
    body = request.get_json(silent=True)
    try:
        ticket, report, created = intake_ticket(body, g.actor)
    except ReportError as exc:
        db.session.rollback()
        return error(exc.code, exc.message, 400)
    return jsonify(ticket_json(ticket, report)), 201 if created else 200


@bp.get("/<source>/<external_id>")
@api_staff_required()
def get_ticket(source: str, external_id: str):
    """Find a ticket's case (404 when unknown or not the caller's department's)."""
    ticket = find_ticket(source, external_id)
    report = db.session.get(Report, ticket.report_id) if ticket is not None else None
    if report is None or not queries.can_see(report, g.actor):
        return error("not_found", "没有找到这个工单", 404)
    out = ticket_json(ticket, report)
    out["case"] = case_summary(report)
    out["callbacks"] = callback_counts(ticket.id)
    return jsonify(out)
