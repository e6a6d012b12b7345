"""Console pages of the moderation queue (role moderator or admin): flagged cases and photos with the reason, and
the actions on them; muting the reporter from a case without ever showing their openid."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from app.citizens.auth import staff_required
from app.extensions import db
from app.moderation.services import KINDS, ModerationError, active_sanction, lift_sanctions, sanction_citizen
from app.reports.citizen_view import citizen_view
from app.reports.models import FLAG_REASONS
from app.reports.moderation import OPS, moderate, moderation_queue, open_flags
from app.reports.services import ReportNotFound, get_report
from app.reports.workflow import ReportError

bp = Blueprint("moderation", __name__, url_prefix="/console/moderation")


@bp.get("/")
@staff_required("moderator")
def queue():
    """What waits for a moderator, oldest first."""
    items = []
    for report in moderation_queue():
        items.append(
            {
                "r": report,
                "public": citizen_view(report, audience="public"),
                "flags": open_flags(report.id),
                "sanction": active_sanction(report.citizen_id),
            }
        )
    return render_template("console/moderation.html", items=items, ops=OPS, flag_reasons=FLAG_REASONS, kinds=KINDS)


@bp.post("/<int:report_id>/<op>")
@staff_required("moderator")
def act(report_id: int, op: str):
    """One moderation action on one case."""
    form = request.form
    try:
        photo = form.get("photo_id", "")
        moderate(
            report_id,
            g.actor,
            op,
            text=form.get("text"),
            photo_id=int(photo) if photo.isdigit() else None,
            note=form.get("note"),
        )
    except ReportError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for(".queue")), 303
    flash(f"已完成「{OPS[op]}」", "ok")
    return redirect(request.form.get("back") or url_for(".queue")), 303


@bp.post("/<int:report_id>/reporter/<kind>")
@staff_required("moderator")
def sanction_reporter(report_id: int, kind: str):
    """Mute or ban the case's reporter (the openid stays on the server), or lift it (kind=lift)."""
    try:
        report = get_report(report_id)
        if report.citizen_id is None:
            raise ModerationError("这个案件没有市民举报人")
        if kind == "lift":
            n = lift_sanctions("", g.actor.name, citizen_id=report.citizen_id)
            flash(f"已解除 {n} 项处理" if n else "该举报人没有生效的处理", "ok")
        else:
            days = request.form.get("days", "")
            sanction_citizen(
                "",
                kind,
                request.form.get("reason", ""),
                int(days) if days.isdigit() else None,
                g.actor.name,
                citizen_id=report.citizen_id,
            )
            flash(f"已对举报人{KINDS.get(kind, kind)}", "ok")
    except (ModerationError, ReportNotFound) as exc:
        db.session.rollback()
        flash(exc.message, "error")
    return redirect(url_for(".queue")), 303
