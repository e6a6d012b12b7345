"""Questions citizens ask the bot: their cases and the ones they follow, one case's trail, their points, what is
nearby (from a location or a sign's code)."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select, text

from app.bot import messages as M
from app.bot.models import OutboundMessage
from app.citizens.services import CitizenView
from app.extensions import db
from app.geo import to_wgs84
from app.poi.services import nearest_pois
from app.reports.citizen_view import citizen_view
from app.reports.followers import (
    MAX_FOLLOWED,
    CannotFollow,
    follow_case,
    follower_ids,
    own_and_followed,
    unfollow_case,
)
from app.reports.models import Report


def my_reports(citizen: CitizenView, limit: int = 5) -> str:
    """The citizen's latest cases and states, with any progress we could not deliver, then the cases they follow."""
    reports, followed = own_and_followed(citizen.id, limit)
    followed_part = followed_lines(followed)
    if not reports:
        return "\n".join([M.NO_REPORTS, *followed_part])
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
    lines.extend(followed_part)
    lines.append(M.MY_REPORTS_FOOTER)
    return "\n".join(lines)


def case_trail(citizen: CitizenView, case_number: str) -> str:
    """One of the citizen's cases, or one they follow, with its public trail (never internal notes)."""
    report = db.session.scalar(select(Report).where(Report.case_number == case_number))
    if report is None:
        return M.CASE_NOT_FOUND.format(case_number=case_number)
    if report.citizen_id == citizen.id:
        view = citizen_view(report, audience="reporter")
    elif citizen.id in follower_ids(report.id):
        view = citizen_view(report, audience="public")
    else:
        return M.CASE_NOT_FOUND.format(case_number=case_number)
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


def nearby(lat: float, lng: float, crs: str = "gcj02", category: str | None = None) -> str:
    """The nearest toilets, parking, police kiosks and car washes (or one category), named in Chinese, with the
    link to the HTML page of that location."""
    wlat, wlng = to_wgs84(lat, lng, crs)
    url = f"{current_app.config['PUBLIC_BASE_URL']}/nearby?lat={wlat:.6f}&lng={wlng:.6f}"
    return _nearby_lines(wlat, wlng, M.NEARBY_HEADER, M.NEARBY_LINK.format(url=url), category)


def sign_nearby(sign) -> str:
    """What scanning a sign shows, as text: its nearest facilities and the link to its page."""
    url = f"{current_app.config['PUBLIC_BASE_URL']}/s/{sign.code}"
    header = M.SIGN_HEADER.format(code=sign.code, label=sign.label)
    return _nearby_lines(sign.lat, sign.lng, header, M.SIGN_LINK.format(url=url))


def _nearby_lines(wlat: float, wlng: float, header: str, link: str, category: str | None = None) -> str:
    found = nearest_pois(wlat, wlng, category=category, k=5, within_m=3000)
    if not found:
        none = M.NEARBY_NONE_OF.format(category=CATEGORY_WORDS.get(category, "")) if category else M.NEARBY_NONE
        return none + "\n" + link
    lines = [header]
    for p in found:
        distance = M.distance_text(p.distance_m)
        lines.append(M.NEARBY_LINE.format(name=p.name, category=p.category_name, distance=distance))
    lines.append(link)
    return "\n".join(lines)


CATEGORY_WORDS = M.FACILITY_NAMES


def followed_lines(cases: list[Report]) -> list[str]:
    """「我的举报」's second part: the cases the citizen follows (what the public may see of each)."""
    if not cases:
        return []
    lines = [M.MY_FOLLOWED_HEADER]
    for r in cases:
        view = citizen_view(r, audience="public")
        lines.append(M.MY_REPORTS_LINE.format(case_number=view.case_number, status=view.status_label,
                                              summary=view.description[:16]))
    return lines


def follow_reply(citizen: CitizenView, case_number: str) -> str:
    """「关注 JB…」."""
    try:
        report = follow_case(citizen.id, case_number)
    except CannotFollow as exc:
        return {
            "own": M.FOLLOW_OWN, "cancelled": M.FOLLOW_CANCELLED, "too_many": M.FOLLOW_TOO_MANY,
        }.get(exc.message, M.FOLLOW_NOT_FOUND).format(case_number=case_number, limit=MAX_FOLLOWED)
    return M.FOLLOWED.format(case_number=report.case_number, status=report.status_label)


def unfollow(citizen: CitizenView, case_number: str) -> str:
    """「取消关注 JB…」."""
    try:
        stopped = unfollow_case(citizen.id, case_number)
    except CannotFollow:
        return M.FOLLOW_NOT_FOUND.format(case_number=case_number)
    return (M.UNFOLLOWED if stopped else M.NOT_FOLLOWING).format(case_number=case_number)
