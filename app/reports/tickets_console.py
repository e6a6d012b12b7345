"""Console pages of the ticket intake: sources and their callback URL, recent tickets with delivered/failed
callbacks, and a retry of the failed ones."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select

from app.citizens.auth import staff_required
from app.extensions import db
from app.reports.callbacks import retry_failed
from app.reports.models import Report
from app.reports.services import InvalidReport
from app.reports.ticket_models import Ticket, TicketCallback, TicketSource
from app.reports.tickets import register_source

bp = Blueprint("tickets_console", __name__, url_prefix="/console/tickets")


def _page(status: int = 200):
    sources = list(db.session.scalars(select(TicketSource).order_by(TicketSource.code)))
    tickets = db.session.execute(
        select(Ticket, Report.case_number)
        .join(Report, Report.id == Ticket.report_id)
        .order_by(Ticket.id.desc())
        .limit(100)
    ).all()
    counts: dict[int, dict[str, int]] = {}
    ids = [t.id for t, _ in tickets]
    if ids:
        for ticket_id, state, n in db.session.execute(
            select(TicketCallback.ticket_id, TicketCallback.status, func.count())
            .where(TicketCallback.ticket_id.in_(ids))
            .group_by(TicketCallback.ticket_id, TicketCallback.status)
        ):
            counts.setdefault(ticket_id, {})[state] = n
    return render_template("console/tickets.html", sources=sources, tickets=tickets, counts=counts), status


@bp.route("")
@staff_required("dispatcher")
def tickets():
    """Sources and the latest tickets with their callbacks' delivery."""
    return _page()


@bp.route("/sources", methods=["POST"])
@staff_required("admin")
def source_save():
    """Register or change a source (its callback URL must be on TICKET_CALLBACK_HOSTS)."""
    f = request.form
    try:
        register_source(f.get("code", ""), f.get("name", ""), f.get("callback_url") or None, f.get("secret") or None)
    except InvalidReport as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return _page(400)
    flash("已保存", "ok")
    return redirect(url_for(".tickets"))


@bp.route("/<int:ticket_id>/retry", methods=["POST"])
@staff_required("dispatcher")
def retry(ticket_id: int):
    """Send a ticket's failed callbacks again, in order."""
    if db.session.get(Ticket, ticket_id) is None:
        abort(404)
    flash(f"已重新排队 {retry_failed(ticket_id)} 条回调", "ok")
    return redirect(url_for(".tickets"))


def intake_details(report_id: int) -> dict:
    """For the staff case page: the hotline caller, or the ticket with its callbacks (private, staff only)."""
    from app.reports.hotline import caller_of

    ticket = db.session.scalar(select(Ticket).where(Ticket.report_id == report_id))
    callbacks = (
        list(
            db.session.scalars(
                select(TicketCallback).where(TicketCallback.ticket_id == ticket.id).order_by(TicketCallback.trail_seq)
            )
        )
        if ticket is not None
        else []
    )
    return {"caller": caller_of(report_id), "ticket": ticket, "callbacks": callbacks}
