"""Console pages of moderation: the audit of admin changes (the moderation queue joins it)."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, render_template, request
from sqlalchemy import select

from app.audit import AUDITED, AuditEntry
from app.citizens.auth import staff_required
from app.extensions import db

bp = Blueprint("moderation", __name__, url_prefix="/console")
PAGE = 100


@bp.get("/audit")
@staff_required("admin")
def audit_log():
    """Admin changes, newest first, filtered by table, who and a day range."""
    entity = request.args.get("entity") or None
    actor = (request.args.get("actor") or "").strip()
    query = select(AuditEntry).order_by(AuditEntry.id.desc())
    if entity in AUDITED:
        query = query.where(AuditEntry.entity == entity)
    if actor:
        query = query.where(AuditEntry.actor_name == actor)
    for arg, op in (("date_from", "__ge__"), ("date_to", "__lt__")):
        raw = request.args.get(arg)
        try:
            day = datetime.fromisoformat(raw) if raw else None
        except ValueError:
            day = None
        if day is not None:
            query = query.where(getattr(AuditEntry.at, op)(day))
    before = request.args.get("before", type=int)
    if before:
        query = query.where(AuditEntry.id < before)
    rows = db.session.scalars(query.limit(PAGE)).all()
    return render_template(
        "console/audit.html", rows=rows, entities=sorted(AUDITED), entity=entity, actor=actor, more=len(rows) == PAGE
    )
