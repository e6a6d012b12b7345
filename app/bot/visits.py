"""The return visit in the chat: the answer (by number or by words) only while a question is pending, and the
sentence and photos a citizen adds after 不满意, kept for the case.

A pending question is a Redis marker per citizen, `bot:visit:<openid>` = {"visit", "stage", "exp", "until"}, written
when the question is queued and read with the push's first round trip (no database work for pushes without one).
It outlives the answer window by LATE_GRACE_DAYS so that a late or second answer is refused politely instead of being
read as a new report. The answer itself is decided by app.reports.feedback (once, within FEEDBACK_WINDOW_DAYS).
"""

from __future__ import annotations

import json
import time

from flask import current_app

from app.bot import batch
from app.bot import messages as M
from app.bot.batch import PushBatch
from app.bot.tasks import fetch_photos
from app.citizens.services import CitizenView
from app.extensions import get_redis
from app.jobs import app_job
from app.reports.categories import normalize
from app.reports.feedback import (
    AlreadyAnswered,
    FeedbackClosed,
    VisitNotFound,
    add_feedback_details,
    answer_return_visit,
)

LATE_GRACE_DAYS = 7
ANSWERS = {
    "1": "satisfied", "满意": "satisfied", "非常满意": "satisfied", "很满意": "satisfied", "解决了": "satisfied",
    "已解决": "satisfied", "已经解决了": "satisfied",
    "2": "basically_satisfied", "基本满意": "basically_satisfied", "还行": "basically_satisfied",
    "一般": "basically_satisfied", "还可以": "basically_satisfied",
    "3": "dissatisfied", "不满意": "dissatisfied", "没解决": "dissatisfied", "没有解决": "dissatisfied",
    "未解决": "dissatisfied", "还没解决": "dissatisfied", "还没有解决": "dissatisfied", "没修好": "dissatisfied",
    "不满意问题没有解决": "dissatisfied", "问题没有解决": "dissatisfied",
}


def _key(openid: str) -> str:
    return f"bot:visit:{openid}"


def queue_reads(push: PushBatch, openid: str) -> None:
    """Ask the push's first round trip whether a question is pending."""
    push.read(("visit", openid), "get", _key(openid))


def _pending(openid: str) -> dict | None:
    push = batch.current()
    if push is not None and push.has(("visit", openid)):
        raw = push.value(("visit", openid))
    else:
        raw = get_redis().get(_key(openid))
    return json.loads(raw) if raw else None


def _store(openid: str, state: dict) -> None:
    ttl = max(1, int(state["exp"] - time.time()))
    batch.write_now_or_later(get_redis(), ("set", (_key(openid), json.dumps(state)), {"ex": ttl}))


@app_job
def mark_pending_job(openid: str, visit_id: int, ttl_s: int) -> str:
    """Mark the citizen's question pending (after the commit that queued the message; a newer visit replaces it)."""
    state = {"visit": visit_id, "stage": "asked", "exp": int(time.time()) + int(ttl_s), "until": 0}
    get_redis().set(_key(openid), json.dumps(state), ex=int(ttl_s))
    return "marked"


def parse_answer(text: str) -> str | None:
    """The rating a reply means (1/2/3, 满意, 基本满意, 不满意, 没解决 …), or None."""
    return ANSWERS.get(normalize(text).removeprefix("回复"))


def on_details(citizen: CitizenView, body: str) -> str | None:
    """A sentence after 不满意 is kept for the case; None when no such question is open."""
    state = _pending(citizen.openid)
    if not state or state["stage"] != "details" or time.time() >= state["until"] or not body.strip():
        return None
    return _details(citizen, state, text=body)


def on_answer(citizen: CitizenView, body: str) -> str | None:
    """The reply when this text answers a pending return visit; None when it is ordinary text."""
    state = _pending(citizen.openid)
    if not state:
        return None
    rating = parse_answer(body)
    if rating is None:
        return None
    try:
        answer = answer_return_visit(state["visit"], citizen.id, rating)
    except AlreadyAnswered as exc:
        return M.VISIT_ALREADY.format(case_number=exc.message)
    except FeedbackClosed as exc:
        return M.VISIT_LATE.format(case_number=exc.message, days=current_app.config["FEEDBACK_WINDOW_DAYS"])
    except VisitNotFound:
        return None
    if rating != "dissatisfied":
        return M.VISIT_THANKS.format(rating=M.RATING_LABELS[rating], case_number=answer.case_number)
    state.update(stage="details", until=int(time.time()) + current_app.config["FEEDBACK_DETAILS_S"],
                 case_number=answer.case_number)
    _store(citizen.openid, state)
    if answer.moved_to_unresolved:
        return M.VISIT_UNRESOLVED.format(case_number=answer.case_number)
    return M.VISIT_DISSATISFIED.format(case_number=answer.case_number)


def on_photo(citizen: CitizenView, media_id: str) -> str | None:
    """A photo after 不满意 is kept for the case; None when no such question is open (the photo starts a draft)."""
    state = _pending(citizen.openid)
    if not state or state["stage"] != "details" or time.time() >= state["until"]:
        return None
    return _details(citizen, state, media_id=media_id)


def _details(citizen: CitizenView, state: dict, text: str | None = None, media_id: str | None = None) -> str | None:
    try:
        report_id = add_feedback_details(state["visit"], citizen.id, text=text, media_id=media_id)
    except VisitNotFound:
        return None
    case_number = state.get("case_number", "")
    if media_id:
        fetch_photos(report_id)  # downloaded by jobs, as a report's photos are
        return M.VISIT_PHOTO_KEPT.format(case_number=case_number)
    return M.VISIT_DETAILS_KEPT.format(case_number=case_number)
