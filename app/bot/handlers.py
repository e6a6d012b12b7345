"""What the bot does with each kind of push: a dispatch table {type or event: handler}. Each handler returns the
reply text ("" for nothing to say)."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import current_app
from sqlalchemy import select, text

from app.bot import dialogue
from app.bot import messages as M
from app.bot.models import OutboundMessage
from app.bot.protocol import Message
from app.citizens.models import Citizen
from app.citizens.services import set_subscribed
from app.events import utcnow
from app.extensions import db
from app.reports.models import STATUS_LABELS, Report

CANCEL_WORDS = {"取消", "取消举报", "不报了", "cancel"}
HELP_WORDS = {"帮助", "help", "?", "？", "菜单", "怎么举报"}
MY_REPORTS_WORDS = {"我的举报", "查询", "查询进度", "我的案件"}
POINTS_WORDS = {"积分", "我的积分"}
SUBMIT_WORDS = {"提交", "没有照片", "直接提交"}


def _case_number_re() -> re.Pattern:
    return re.compile(rf"^{re.escape(current_app.config['CASE_NUMBER_PREFIX'])}\d{{10,}}$", re.IGNORECASE)


# ------------------------------------------------------------------------------------------- the report dialogue


def _with_draft(citizen: Citizen, change: Callable[[dict], str | None]) -> str:
    """Load (or start) the draft, apply one change, then take the next step."""
    draft = dialogue.load(citizen.openid) or dialogue.new_draft()
    ack = change(draft)
    return "\n".join(dialogue.step(draft, citizen, [ack] if ack else []))


def on_text(msg: Message, citizen: Citizen, content: str | None = None) -> str:
    """Commands first, then a category choice, then the report dialogue; unknown text gets help."""
    body = (content if content is not None else msg.fields.get("Content", "")).strip()
    word = body.lower()
    draft = dialogue.load(citizen.openid)
    if word in CANCEL_WORDS:
        if draft is None:
            return M.NOTHING_TO_CANCEL
        dialogue.clear(citizen.openid)
        return M.CANCELLED
    if word in HELP_WORDS:
        return M.HELP
    if body in MY_REPORTS_WORDS:
        return my_reports(citizen)
    if body in POINTS_WORDS:
        return points(citizen)
    if _case_number_re().match(body):
        return case_trail(citizen, body.upper())
    if draft is not None:
        if body in SUBMIT_WORDS:
            return _with_draft(citizen, lambda d: d.update(no_photo=True))
        answer = dialogue.choose(draft, body)
        if answer is not None:
            return "\n".join(dialogue.step(draft, citizen, [answer]))
        return _with_draft(citizen, lambda d: dialogue.add_description(d, body))
    if body and len(body) >= 2 and not body.isdigit():
        from app.reports.categories import suggest_category

        if suggest_category(body):  # sounds like a problem in the street: start a report with it
            return _with_draft(citizen, lambda d: dialogue.add_description(d, body))
    return M.HELP


def on_voice(msg: Message, citizen: Citizen) -> str:
    """A voice message counts by WeChat's speech recognition text."""
    recognition = msg.fields.get("Recognition", "").strip().rstrip("。.！!")
    if not recognition:
        return M.STILL_NEED.format(items=M.NEED_DESCRIPTION)
    return on_text(msg, citizen, recognition)


def on_image(msg: Message, citizen: Citizen) -> str:
    """A photo joins the draft (or starts one). Only its MediaId is kept; a job downloads it after submission."""
    media_id = msg.fields.get("MediaId", "")
    if not media_id:
        return M.HELP
    return _with_draft(citizen, lambda d: dialogue.add_photo(d, media_id[:128]))


def on_location(msg: Message, citizen: Citizen) -> str:
    """In a draft: the case's location. Outside one: nearby services (and remembered for a report that follows)."""
    try:
        lat, lng = float(msg.fields.get("Location_X", "")), float(msg.fields.get("Location_Y", ""))
    except ValueError:
        return M.INVALID_LOCATION
    label = msg.fields.get("Label", "")[:200] or None
    problem = dialogue.location_check(lat, lng, "gcj02")
    draft = dialogue.load(citizen.openid)
    if draft is None:
        if problem != M.INVALID_LOCATION:
            _remember_location(citizen, lat, lng, "gcj02")
        return nearby(lat, lng) + ("" if problem else "\n" + M.NEARBY_HINT)
    if problem:
        return problem

    def set_location(d: dict) -> str:
        d["location"] = {"lat": lat, "lng": lng, "crs": "gcj02", "label": label}
        return M.LOCATION_RECEIVED.format(label=label or f"{lat:.5f}, {lng:.5f}")

    return _with_draft(citizen, set_location)


def _remember_location(citizen: Citizen, lat: float, lng: float, crs: str) -> None:
    citizen.last_location_lat, citizen.last_location_lng = lat, lng
    citizen.last_location_crs, citizen.last_location_at = crs, utcnow()
    db.session.commit()


# ------------------------------------------------------------------------------------------------------ asking


def my_reports(citizen: Citizen, limit: int = 5) -> str:
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


def case_trail(citizen: Citizen, case_number: str) -> str:
    """One of the citizen's cases with its trail (citizens see only their own cases)."""
    report = db.session.scalar(select(Report).where(Report.case_number == case_number, Report.citizen_id == citizen.id))
    if report is None:
        return M.CASE_NOT_FOUND.format(case_number=case_number)
    lines = [
        M.CASE_TRAIL_HEADER.format(
            case_number=report.case_number, status=report.status_label, summary=(report.description or "")[:30]
        )
    ]
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(current_app.config["TIMEZONE"])
    for e in report.trail:
        label = "提交举报" if e.action == "submit" else STATUS_LABELS.get(e.to_status, e.to_status)
        if e.action == "overdue":
            label = "超期督办"
        lines.append(
            M.CASE_TRAIL_LINE.format(
                time=e.created_at.astimezone(tz).strftime("%m-%d %H:%M"),
                label=label,
                note=f"：{e.note}" if e.note else "",
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


def points(citizen: Citizen) -> str:
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


# ------------------------------------------------------------------------------------------------------ events


def on_subscribe(msg: Message, citizen: Citizen) -> str:
    """Welcome and how to report."""
    set_subscribed(citizen.openid, True)
    return M.WELCOME


def on_unsubscribe(msg: Message, citizen: Citizen) -> str:
    """Marked unsubscribed; the draft is dropped."""
    set_subscribed(citizen.openid, False)
    dialogue.clear(citizen.openid)
    return M.UNSUBSCRIBED


def on_location_event(msg: Message, citizen: Citizen) -> str:
    """The periodic LOCATION event: remembered (raw, assumed GCJ-02) for a report that follows; no reply."""
    try:
        lat, lng = float(msg.fields.get("Latitude", "")), float(msg.fields.get("Longitude", ""))
    except ValueError:
        return ""
    if dialogue.location_check(lat, lng, "gcj02") != M.INVALID_LOCATION:
        _remember_location(citizen, lat, lng, "gcj02")
    return ""


CLICK_KEYS: dict[str, Callable[[Citizen], str]] = {
    "HOW_TO_REPORT": lambda c: M.WELCOME,
    "HELP": lambda c: M.HELP,
    "MY_REPORTS": my_reports,
    "MY_POINTS": points,
    "NEARBY": lambda c: M.NEARBY_ASK,
    "CANCEL": lambda c: on_text(Message({"Content": "取消"}), c),
}


def on_click(msg: Message, citizen: Citizen) -> str:
    """Menu clicks dispatch to the same handlers as typed commands."""
    handler = CLICK_KEYS.get(msg.fields.get("EventKey", ""))
    return handler(citizen) if handler else M.HELP


def on_other(msg: Message, citizen: Citizen) -> str:
    """Anything else (video, link, file…): help, never silence."""
    return M.HELP


def on_silent_event(msg: Message, citizen: Citizen) -> str:
    """Events that need no answer (VIEW, template delivery reports…)."""
    return ""


MESSAGE_HANDLERS: dict[str, Callable[[Message, Citizen], str]] = {
    "text": on_text,
    "image": on_image,
    "voice": on_voice,
    "location": on_location,
}
EVENT_HANDLERS: dict[str, Callable[[Message, Citizen], str]] = {
    "subscribe": on_subscribe,
    "unsubscribe": on_unsubscribe,
    "location": on_location_event,
    "click": on_click,
    "scan": lambda m, c: M.WELCOME,
    "view": on_silent_event,
    "templatesendjobfinish": on_silent_event,
}


def dispatch(msg: Message, citizen: Citizen) -> str:
    """The handler for this push, and its reply; a draft that expired meanwhile is mentioned first."""
    if msg.type == "event":
        return EVENT_HANDLERS.get(msg.event, on_silent_event)(msg, citizen)
    notice = dialogue.expired_notice(citizen.openid)
    reply = MESSAGE_HANDLERS.get(msg.type, on_other)(msg, citizen)
    return f"{notice}\n\n{reply}" if notice else reply
