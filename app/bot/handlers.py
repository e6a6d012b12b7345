"""What the bot does with each kind of push: a dispatch table {type or event: handler}. Each handler returns the
reply text ("" for nothing to say)."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import current_app

from app.bot import chat, dialogue, visits
from app.bot import messages as M
from app.bot.ask import case_trail, follow_reply, my_reports, nearby, points, unfollow
from app.bot.batch import PushBatch
from app.bot.protocol import Message
from app.citizens.services import CitizenView, remember_location, set_subscribed

CANCEL_WORDS = {"取消", "取消举报", "不报了", "cancel"}
HELP_WORDS = {"帮助", "help", "?", "？", "菜单", "怎么举报"}
MY_REPORTS_WORDS = {"我的举报", "查询", "查询进度", "我的案件"}
POINTS_WORDS = {"积分", "我的积分"}
SUBMIT_WORDS = {"提交", "没有照片", "直接提交"}


def _case_number_re() -> re.Pattern:
    return re.compile(rf"^{re.escape(current_app.config['CASE_NUMBER_PREFIX'])}\d{{10,}}$", re.IGNORECASE)


def _follow_re() -> re.Pattern:
    """「关注 JB…」 or 「取消关注 JB…」 (spaces optional)."""
    prefix = re.escape(current_app.config["CASE_NUMBER_PREFIX"])
    return re.compile(rf"^(取消)?关注\s*({prefix}\d{{10,}})$", re.IGNORECASE)


# ------------------------------------------------------------------------------------------- the report dialogue


def _with_draft(citizen: CitizenView, change: Callable[[dict], str | None]) -> str:
    """Load (or start) the draft, apply one change, then take the next step."""
    draft = dialogue.load(citizen.openid) or dialogue.new_draft()
    ack = change(draft)
    return "\n".join(dialogue.step(draft, citizen, [ack] if ack else []))


def on_text(msg: Message, citizen: CitizenView, content: str | None = None) -> str:
    """Commands first, then a pending return visit, then a category choice, then the report dialogue.

    Only a sentence that reads as a problem starts (or joins) a report: thanks, greetings and questions such as
    「附近厕所」 are answered as what they are.
    """
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
    follow = _follow_re().match(body)
    if follow:
        return (unfollow if follow.group(1) else follow_reply)(citizen, follow.group(2).upper())
    if not (draft and draft.get("choices") and body.isdigit()):  # a digit in a category list answers the list
        answered = visits.on_answer(citizen, body)
        if answered is not None:
            return answered
    casual = chat.casual_reply(citizen, body, in_draft=draft is not None)
    if casual is not None:
        return casual
    kept = visits.on_details(citizen, body)  # what the citizen adds after 不满意 belongs to that case
    if kept is not None:
        return kept
    if draft is not None:
        if body in SUBMIT_WORDS:
            return _with_draft(citizen, lambda d: d.update(no_photo=True))
        answer = dialogue.choose(draft, body)
        if answer is not None:
            return "\n".join(dialogue.step(draft, citizen, [answer]))
        return _with_draft(citizen, lambda d: dialogue.add_description(d, body))
    sign = chat.sign_reply(body)
    if sign is not None:
        return sign
    if chat.reads_as_problem(body):  # sounds like a problem in the street: start a report with it
        return _with_draft(citizen, lambda d: dialogue.add_description(d, body))
    return M.HELP


def on_voice(msg: Message, citizen: CitizenView) -> str:
    """A voice message counts by WeChat's speech recognition text."""
    recognition = msg.fields.get("Recognition", "").strip().rstrip("。.！!")
    if not recognition:
        return M.STILL_NEED.format(items=M.NEED_DESCRIPTION)
    return on_text(msg, citizen, recognition)


def on_image(msg: Message, citizen: CitizenView) -> str:
    """A photo joins the draft (or starts one). Only its MediaId is kept; a job downloads it after submission."""
    media_id = msg.fields.get("MediaId", "")
    if not media_id:
        return M.HELP
    kept = visits.on_photo(citizen, media_id)  # a photo after 不满意 belongs to that case
    if kept is not None:
        return kept
    return _with_draft(citizen, lambda d: dialogue.add_photo(d, media_id[:128]))


def on_location(msg: Message, citizen: CitizenView) -> str:
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
            remember_location(citizen.id, lat, lng, "gcj02")
        return nearby(lat, lng) + ("" if problem else "\n" + M.NEARBY_HINT)
    if problem:
        return problem

    def set_location(d: dict) -> str:
        d["location"] = {"lat": lat, "lng": lng, "crs": "gcj02", "label": label}
        return M.LOCATION_RECEIVED.format(label=label or f"{lat:.5f}, {lng:.5f}")

    return _with_draft(citizen, set_location)


# ------------------------------------------------------------------------------------------------------ events


def on_subscribe(msg: Message, citizen: CitizenView) -> str:
    """Welcome and how to report."""
    set_subscribed(citizen.openid, True)
    return M.WELCOME


def on_unsubscribe(msg: Message, citizen: CitizenView) -> str:
    """Marked unsubscribed; the draft is dropped."""
    set_subscribed(citizen.openid, False)
    dialogue.clear(citizen.openid)
    return M.UNSUBSCRIBED


def on_location_event(msg: Message, citizen: CitizenView) -> str:
    """The periodic LOCATION event: remembered (raw, assumed GCJ-02) for a report that follows; no reply."""
    try:
        lat, lng = float(msg.fields.get("Latitude", "")), float(msg.fields.get("Longitude", ""))
    except ValueError:
        return ""
    if dialogue.location_check(lat, lng, "gcj02") != M.INVALID_LOCATION:
        remember_location(citizen.id, lat, lng, "gcj02")
    return ""


CLICK_KEYS: dict[str, Callable[[CitizenView], str]] = {
    "HOW_TO_REPORT": lambda c: M.WELCOME,
    "HELP": lambda c: M.HELP,
    "MY_REPORTS": my_reports,
    "MY_POINTS": points,
    "NEARBY": lambda c: M.NEARBY_ASK,
    "CANCEL": lambda c: on_text(Message({"Content": "取消"}), c),
}


def on_click(msg: Message, citizen: CitizenView) -> str:
    """Menu clicks dispatch to the same handlers as typed commands."""
    handler = CLICK_KEYS.get(msg.fields.get("EventKey", ""))
    return handler(citizen) if handler else M.HELP


def on_other(msg: Message, citizen: CitizenView) -> str:
    """Anything else (video, link, file…): help, never silence."""
    return M.HELP


def on_silent_event(msg: Message, citizen: CitizenView) -> str:
    """Events that need no answer (VIEW, template delivery reports…)."""
    return ""


MESSAGE_HANDLERS: dict[str, Callable[[Message, CitizenView], str]] = {
    "text": on_text,
    "image": on_image,
    "voice": on_voice,
    "location": on_location,
}
EVENT_HANDLERS: dict[str, Callable[[Message, CitizenView], str]] = {
    "subscribe": on_subscribe,
    "unsubscribe": on_unsubscribe,
    "location": on_location_event,
    "click": on_click,
    "scan": lambda m, c: M.WELCOME,
    "view": on_silent_event,
    "templatesendjobfinish": on_silent_event,
}


READ_ONLY_EVENTS = {"subscribe", "scan", "view", "templatesendjobfinish", "location"}


def changes_draft(msg: Message) -> bool:
    """Whether this push may change the citizen's draft (and so must hold the citizen's lock). Errs on yes."""
    if msg.type == "event":
        return msg.event not in READ_ONLY_EVENTS and msg.fields.get("EventKey") in (None, "", "CANCEL")
    if msg.type == "text":
        body = msg.fields.get("Content", "").strip()
        read_only = HELP_WORDS | MY_REPORTS_WORDS | POINTS_WORDS
        return not (body.lower() in read_only or body in read_only or _case_number_re().match(body)
                    or _follow_re().match(body))
    return True


def queue_reads(push: PushBatch, msg: Message) -> None:
    """What this push's handlers will read, asked for in its first Redis round trip."""
    dialogue.queue_reads(push, msg.source)
    if msg.type in ("text", "voice", "image"):
        visits.queue_reads(push, msg.source)


def dispatch(msg: Message, citizen: CitizenView) -> str:
    """The handler for this push, and its reply; a draft that expired meanwhile is mentioned first."""
    if msg.type == "event":
        return EVENT_HANDLERS.get(msg.event, on_silent_event)(msg, citizen)
    notice = dialogue.expired_notice(citizen.openid)
    reply = MESSAGE_HANDLERS.get(msg.type, on_other)(msg, citizen)
    return f"{notice}\n\n{reply}" if notice else reply
