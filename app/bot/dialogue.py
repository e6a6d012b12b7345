"""The report dialogue: a draft per citizen in Redis (with expiry) filled by photos, a location and a description
in any order, a category suggestion (or a numbered choice), then one submission through app.reports.

Steps for one citizen are serialised by a Redis lock (WeChat delivers a burst of photos as parallel pushes), and the
draft id is the submission's client_ref, so submitting twice returns the same case.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from contextlib import contextmanager

from flask import current_app, g, has_request_context
from redis.exceptions import LockError, RedisError

from app import geo
from app.bot import messages as M
from app.citizens.models import Citizen
from app.extensions import db, get_redis
from app.reports.categories import CONFIDENT, suggest_category
from app.reports.services import (
    InvalidReport,
    OutsideServiceArea,
    PhotoInput,
    Submission,
    UnknownCategory,
    submit_report,
)

MAX_PHOTOS = 9
GHOST_TTL_S = 24 * 3600  # how long we remember that a draft existed, to tell the citizen it expired


def _key(openid: str) -> str:
    return f"bot:draft:{openid}"

log = logging.getLogger(__name__)


def _ghost(openid: str) -> str:
    return f"bot:draft-ghost:{openid}"


@contextmanager
def citizen_lock(openid: str):
    """One dialogue step at a time per citizen, across all web workers.

    A release that fails (Redis went away after the step was done) is not the step's failure: the lock expires on
    its own, and turning it into an error would make WeChat's retry act a second time on a finished step.
    """
    lock = get_redis().lock(f"bot:lock:{openid}", timeout=15, blocking_timeout=4)
    if not lock.acquire():
        raise LockError(f"another step of {openid} is still running")
    try:
        yield
    finally:
        try:
            lock.release()
        except (LockError, RedisError) as exc:
            log.warning("bot: could not release the dialogue lock of %s (it expires by itself): %s", openid, exc)


def _cache() -> dict:
    """Drafts read or written in this request (a step runs under the citizen's lock, so they stay current)."""
    return g.setdefault("bot_drafts", {}) if has_request_context() else {}


def load(openid: str) -> dict | None:
    """The citizen's current draft, or None."""
    cache = _cache()
    if openid not in cache:
        cache[openid] = get_redis().get(_key(openid))
    raw = cache[openid]
    return json.loads(raw) if raw else None


def save(openid: str, draft: dict) -> None:
    """Store the draft; it expires DRAFT_TTL seconds after its last change."""
    ttl = current_app.config["DRAFT_TTL"]
    pipe = get_redis().pipeline()
    pipe.set(_key(openid), json.dumps(draft, ensure_ascii=False), ex=ttl)
    pipe.set(_ghost(openid), draft["id"], ex=ttl + GHOST_TTL_S)
    pipe.execute()
    _cache()[openid] = json.dumps(draft, ensure_ascii=False)


def clear(openid: str) -> None:
    """Forget the draft (cancelled or submitted)."""
    get_redis().delete(_key(openid), _ghost(openid))
    _cache()[openid] = None


def expired_notice(openid: str) -> str | None:
    """If a draft expired since the citizen last wrote, say so (once)."""
    r = get_redis()
    draft, has_ghost = r.pipeline(transaction=False).get(_key(openid)).exists(_ghost(openid)).execute()
    _cache()[openid] = draft  # the handler's load() needs no second round trip
    if draft or not has_ghost or not r.delete(_ghost(openid)):
        return None
    return M.DRAFT_EXPIRED.format(minutes=current_app.config["DRAFT_TTL"] // 60)


def new_draft() -> dict:
    """An empty draft with a fresh id (used as the submission's client_ref)."""
    return {
        "id": "wx-" + secrets.token_hex(10),
        "photos": [],
        "location": None,
        "description": "",
        "category": None,
        "category_name": None,
        "category_decided": False,
        "choices": None,
        "no_photo": False,
        "started": int(time.time()),
    }


def location_check(lat: float, lng: float, crs: str = "gcj02") -> str | None:
    """None when the location is usable; else the sentence to say."""
    try:
        lat, lng = geo.parse_coordinates(lat, lng)
    except geo.InvalidCoordinates:
        return M.INVALID_LOCATION
    wlat, wlng = geo.to_wgs84(lat, lng, crs)
    if not current_app.extensions["service_area"].contains(wlat, wlng):
        return M.OUTSIDE_AREA
    return None


def add_photo(draft: dict, media_id: str) -> str:
    """Add a photo (at most nine); the acknowledgement."""
    if media_id in draft["photos"]:
        return M.PHOTO_RECEIVED.format(count=len(draft["photos"]))
    if len(draft["photos"]) >= MAX_PHOTOS:
        return M.PHOTO_LIMIT.format(limit=MAX_PHOTOS)
    draft["photos"].append(media_id)
    return M.PHOTO_RECEIVED.format(count=len(draft["photos"]))


def add_description(draft: dict, text: str) -> str:
    """Add to the description (a second sentence adds to the first) and ask for the category again."""
    text = text.strip()
    draft["description"] = f"{draft['description']}；{text}" if draft["description"] else text
    draft["category_decided"] = False
    draft["choices"] = None
    return M.DESCRIPTION_RECEIVED.format(text=text[:50])


def choose(draft: dict, text: str) -> str | None:
    """The citizen's answer to the numbered category list; None when the text is not a choice."""
    choices = draft.get("choices")
    if not choices or not text.isdigit():
        return None
    n = int(text)
    if n > len(choices):
        return M.BAD_CHOICE.format(n=len(choices))
    draft["choices"] = None
    draft["category_decided"] = True
    if n == 0:
        draft["category"], draft["category_name"] = None, None
        return M.CATEGORY_CHOSEN.format(name=M.UNCATEGORIZED)
    draft["category"], draft["category_name"] = choices[n - 1]
    return M.CATEGORY_CHOSEN.format(name=draft["category_name"])


def _use_recent_location(draft: dict, citizen: Citizen) -> str | None:
    if draft["location"] or citizen.last_location_at is None or citizen.last_location_lat is None:
        return None
    age = time.time() - citizen.last_location_at.timestamp()
    if age > current_app.config["BOT_LOCATION_FRESH_S"]:
        return None
    if location_check(citizen.last_location_lat, citizen.last_location_lng, citizen.last_location_crs or "gcj02"):
        return None
    draft["location"] = {
        "lat": citizen.last_location_lat,
        "lng": citizen.last_location_lng,
        "crs": citizen.last_location_crs or "gcj02",
        "label": None,
    }
    return M.LOCATION_FROM_EVENT


def step(draft: dict, citizen: Citizen, said: list[str]) -> list[str]:
    """Decide what is still needed, ask for the category when unsure, or submit. Returns the reply lines."""
    note = _use_recent_location(draft, citizen)
    if note:
        said.append(note)
    if draft["description"] and not draft["category_decided"] and not draft["choices"]:
        suggestions = suggest_category(draft["description"])
        if suggestions and suggestions[0].confidence >= CONFIDENT:
            draft["category"], draft["category_name"] = suggestions[0].code, suggestions[0].name
            draft["category_decided"] = True
        elif suggestions:
            draft["choices"] = [[s.code, s.name] for s in suggestions]
        else:
            draft["category_decided"] = True  # nothing matched: staff decide
    if draft["choices"]:
        options = "\n".join(f"{i}. {name}" for i, (_code, name) in enumerate(draft["choices"], 1))
        said.append(M.CHOOSE_CATEGORY.format(options=options))
        save(citizen.openid, draft)
        return said
    missing = []
    if not draft["photos"] and not draft["no_photo"] and not (draft["location"] and draft["description"]):
        missing.append(M.NEED_PHOTO)
    if not draft["location"]:
        missing.append(M.NEED_LOCATION)
    if not draft["description"]:
        missing.append(M.NEED_DESCRIPTION)
    if missing:
        said.append(M.STILL_NEED.format(items="、".join(missing)))
        save(citizen.openid, draft)
        return said
    if not draft["photos"] and not draft["no_photo"]:
        said.append(M.PHOTO_OPTIONAL)
        save(citizen.openid, draft)
        return said
    return submit(draft, citizen, said)


def submit(draft: dict, citizen: Citizen, said: list[str]) -> list[str]:
    """Submit the draft as a case (client_ref = draft id, so a second submit finds the first case)."""
    loc = draft["location"]
    sub = Submission(
        channel="wechat",
        lat=loc["lat"],
        lng=loc["lng"],
        crs=loc["crs"],
        description=draft["description"],
        category_code=draft["category"],
        citizen_id=citizen.id,
        address=loc.get("label"),
        photos=[PhotoInput(source_ref=f"wechat:{m}") for m in draft["photos"]],
        client_ref=draft["id"],
    )
    # Keep the new case's fields after the commit: the answer must not need the database again (a database that
    # goes away right after the commit would otherwise turn a filed case into an apology).
    session = db.session()
    session.expire_on_commit = False
    try:
        report = submit_report(sub)
    except OutsideServiceArea:
        draft["location"] = None
        save(citizen.openid, draft)
        return [*said, M.OUTSIDE_AREA]
    except (InvalidReport, UnknownCategory) as exc:
        save(citizen.openid, draft)
        return [*said, M.SUBMIT_FAILED.format(reason=exc.message)]
    finally:
        session.expire_on_commit = True
    case_number = report.case_number
    category = report.category.name if report.category else M.UNCATEGORIZED
    from app.bot.tasks import fetch_photos  # the photos are fetched by jobs, never in this request

    try:
        clear(citizen.openid)
        fetch_photos(report.id)
    except Exception as exc:  # the case is filed: the periodic photo refetch picks up what is still pending
        log.warning("bot: case %s filed, but clearing the draft or queueing photos failed: %s", case_number, exc)
        db.session.rollback()
    return [*said, M.SUBMITTED.format(case_number=case_number, category=category)]
