"""Questions citizens ask the bot: their cases, one case's trail, their points, what is nearby."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select, text

from app.bot import messages as M
from app.bot.models import OutboundMessage
from app.citizens.services import CitizenView
from app.extensions import db
from app.reports.citizen_view import citizen_view
from app.reports.models import Report


def my_reports(citizen: CitizenView, limit: int = 5) -> str:
    """The citizen's latest cases and states, with any progress we could not deliver."""
    reports = db.session.scalars(
        select(Report).where(Report.citizen_id == citizen.id).order_by(Report.submitted_at.desc()).limit(limit)
    ).all()
    if not reports:
        return M.NO_REPORTS
    undelivered = {}
    for row in db.session.scalars(
        select(OutboundMessage)
        .where(OutboundMessage.citizen_id == citizen.id, OutboundMessage.status.in_(("undelivered", "failed")))
        .order_by(OutboundMessage.id)
    ):
        undelivered[row.report_id] = row.text
    lines = [M.MY_REPORTS_HEADER]
    for r in reports:
        summary = (r.description or "")[:16]
        lines.append(M.MY_REPORTS_LINE.format(case_number=r.case_number, status=r.status_label, summary=summary))
        if r.id in undelivered:
            lines.append(M.MY_REPORTS_UNDELIVERED.format(text=undelivered[r.id]))
    lines.append(M.MY_REPORTS_FOOTER)
    return "\n".join(lines)


def case_trail(citizen: CitizenView, case_number: str) -> str:
    """One of the citizen's cases with its public trail (citizens see only their own cases, never internal notes)."""
    report = db.session.scalar(select(Report).where(Report.case_number == case_number, Report.citizen_id == citizen.id))
    if report is None:
        return M.CASE_NOT_FOUND.format(case_number=case_number)
    view = citizen_view(report, audience="reporter")
    header = M.CASE_TRAIL_HEADER.format(
        case_number=view.case_number, status=view.status_label, summary=view.description[:30]
    )
    lines = [header]
    for step in view.steps:
        lines.append(
            M.CASE_TRAIL_LINE.format(
                time=step.local_time("%m-%d %H:%M"), label=step.label, note=f"：{step.note}" if step.note else ""
            )
        )
    return "\n".join(lines)


def points_balance(citizen_id: int) -> int | None:
    """The balance from the points package's table when it exists (read-only, outside our session)."""
    try:
        with db.engine.connect() as conn:
            value = conn.execute(
                text("SELECT balance FROM points_accounts WHERE citizen_id = :cid"), {"cid": citizen_id}
            ).scalar()
    except Exception:  # the points package is not installed (no table) or its schema differs
        return None
    return int(value) if value is not None else 0


def points(citizen: CitizenView) -> str:
    """Points balance and the link to the points pages."""
    url = current_app.config["PUBLIC_BASE_URL"] + "/points/"
    balance = points_balance(citizen.id)
    if balance is None:
        return M.POINTS_LINK.format(url=url)
    return M.POINTS_BALANCE.format(balance=balance, url=url)


def nearby(lat: float, lng: float) -> str:
    """Nearest toilets, parking and police kiosks (from app.poi when it is there), else a link to the page."""
    url = f"{current_app.config['PUBLIC_BASE_URL']}/api/poi/nearby?lat={lat:.6f}&lng={lng:.6f}&crs=gcj02"
    try:
        from app.geo import to_wgs84
        from app.poi.services import nearest_pois  # built in parallel: optional at run time

        wlat, wlng = to_wgs84(lat, lng, "gcj02")
        found = list(nearest_pois(wlat, wlng, k=5, within_m=3000))
    except Exception as exc:  # no poi package yet, or it failed: the page still helps
        db.session.rollback()
        current_app.logger.info("nearby: falling back to the link (%s)", exc)
        return M.NEARBY_LINK.format(url=url)
    if not found:
        return M.NEARBY_NONE + "\n" + M.NEARBY_LINK.format(url=url)
    lines = [M.NEARBY_HEADER]
    for item in found:
        lines.append(_poi_line(item))
    lines.append(M.NEARBY_LINK.format(url=url))
    return "\n".join(lines)


def _poi_line(item) -> str:
    """One nearby place, whether app.poi hands back dicts, objects or (poi, distance) pairs."""
    distance = None
    if isinstance(item, tuple) and len(item) == 2:
        item, distance = item
    if isinstance(item, dict):
        get = item.get
    else:

        def get(key, obj=item):
            return getattr(obj, key, None)

    distance = distance if distance is not None else get("distance_m")
    return M.NEARBY_LINE.format(
        name=get("name") or "",
        category=get("category_label") or get("category") or "",
        distance=M.distance_text(distance) if distance is not None else "—",
    )
