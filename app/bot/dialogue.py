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

from flask import current_app
from redis.exceptions import LockError, RedisError
from redis.lock import Lock

from app import geo
from app.bot import batch
from app.bot import messages as M
from app.bot.batch import PushBatch
from app.bot.tasks import fetch_photos
from app.citizens.services import CitizenView
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


log = logging.getLogger(__name__)


def _key(openid: str) -> str:
    return f"bot:draft:{openid}"


def _ghost(openid: str) -> str:
    return f"bot:draft-ghost:{openid}"


LOCK_TIMEOUT_S = 15  # a step never takes this long; a lock left by a dead worker frees itself
LOCK_WAIT_S = 4  # WeChat gives each try 5 seconds


def _lock_key(openid: str) -> str:
    return f"bot:lock:{openid}"


def new_lock_token() -> bytes:
    """A token that identifies one holder of a citizen's lock (only the holder may release it)."""
    return secrets.token_hex(16).encode()


def queue_try_lock(pipe, openid: str, token: bytes) -> None:
    """Queue the non-blocking attempt (SET NX PX, as redis-py's Lock does); its result says whether we hold it."""
    pipe.set(_lock_key(openid), token, nx=True, px=LOCK_TIMEOUT_S * 1000)


def queue_release(pipe, openid: str, token: bytes) -> None:
    """Queue the release: delete the lock only if it is still ours (redis-py's own release script, sent with EVAL:
    a registered script in a pipeline costs a SCRIPT EXISTS round trip first)."""
    pipe.eval(Lock.LUA_RELEASE_SCRIPT, 1, _lock_key(openid), token)


def acquire_lock(openid: str) -> bytes:
    """Wait (up to LOCK_WAIT_S) for the citizen's lock; its token. LockError when another step keeps it."""
    token = new_lock_token()
    lock = get_redis().lock(_lock_key(openid), timeout=LOCK_TIMEOUT_S, blocking_timeout=LOCK_WAIT_S)
    if not lock.acquire(token=token):
        raise LockError(f"another step of {openid} is still running")
    return token


def release_lock(openid: str, token: bytes) -> None:
    """Release now (not in a pipeline). A release that fails is not the step's failure: the lock expires by itself,
    and turning it into an error would make WeChat's retry act a second time on a finished step."""
    try:
        pipe = get_redis().pipeline(transaction=False)
        queue_release(pipe, openid, token)
        pipe.execute()
    except (LockError, RedisError) as exc:
        log.warning("bot: could not release the dialogue lock of %s (it expires by itself): %s", openid, exc)


# ------------------------------------------------------------------------- the draft, read and written per push
# A push reads the draft once and writes it at most once: in the webhook the reads arrive with the push's first Redis
# round trip and the writes leave with its last one (app.bot.batch); elsewhere (tests, the CLI) they go at once.


def queue_reads(push: PushBatch, openid: str) -> None:
    """Ask the push's first round trip for the draft and its expiry marker."""
    push.read(("draft", openid), "get", _key(openid))
    push.read(("ghost", openid), "exists", _ghost(openid))


def _raw(openid: str) -> bytes | None:
    push = batch.current()
    if push is not None and push.has(("draft", openid)):
        return push.value(("draft", openid))
    raw = get_redis().get(_key(openid))
    if push is not None:
        push.keep({("draft", openid): raw})
    return raw


def _keep(openid: str, raw: str | None) -> None:
    push = batch.current()
    if push is not None:
        push.keep({("draft", openid): raw})


def load(openid: str) -> dict | None:
    """The citizen's current draft, or None."""
    raw = _raw(openid)
    return json.loads(raw) if raw else None


def save(openid: str, draft: dict) -> None:
    """Store the draft; it expires DRAFT_TTL seconds after its last change."""
    ttl = current_app.config["DRAFT_TTL"]
    raw = json.dumps(draft, ensure_ascii=False)
    batch.write_now_or_later(
        get_redis(),
        ("set", (_key(openid), raw), {"ex": ttl}),
        ("set", (_ghost(openid), draft["id"]), {"ex": ttl + GHOST_TTL_S}),
    )
    _keep(openid, raw)


def clear(openid: str) -> None:
    """Forget the draft (cancelled or submitted)."""
    batch.write_now_or_later(get_redis(), ("delete", (_key(openid), _ghost(openid)), {}))
    _keep(openid, None)


def expired_notice(openid: str) -> str | None:
    """If a draft expired since the citizen last wrote, say so (once)."""
    push = batch.current()
    if push is not None and push.has(("ghost", openid)):  # read with the push's first round trip
        draft, has_ghost = push.value(("draft", openid)), push.values.pop(("ghost", openid))
    else:
        draft, has_ghost = get_redis().pipeline(transaction=False).get(_key(openid)).exists(_ghost(openid)).execute()
        _keep(openid, draft)  # the handler's load() needs no second round trip
    if draft or not has_ghost or not get_redis().delete(_ghost(openid)):
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
    if not draft["description"]:
        draft["description"] = text
    elif not draft["description"].endswith(text):  # the same sentence twice (or a retried step) adds nothing
        draft["description"] = f"{draft['description']}；{text}"
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


def _use_recent_location(draft: dict, citizen: CitizenView) -> str | None:
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


def step(draft: dict, citizen: CitizenView, said: list[str]) -> list[str]:
    """Decide what is still needed, ask for the category when unsure, or submit. Returns the reply lines."""
    note = _use_recent_location(draft, citizen)
    if note:
        said.append(note)
    if draft["description"] and not draft["category_decided"] and not draft["choices"]:
        suggestions = suggest_category(draft["description"])
        # Never a list of one: a confident suggestion, or the only one there is, is used (staff may recategorise);
        # otherwise at least two choices and 「其他」.
        if suggestions and (suggestions[0].confidence >= CONFIDENT or len(suggestions) == 1):
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


def submit(draft: dict, citizen: CitizenView, said: list[str]) -> list[str]:
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
    try:
        clear(citizen.openid)
        fetch_photos(report.id)
    except Exception as exc:  # the case is filed: the periodic photo refetch picks up what is still pending
        log.warning("bot: case %s filed, but clearing the draft or queueing photos failed: %s", case_number, exc)
        db.session.rollback()
    return [*said, M.SUBMITTED.format(case_number=case_number, category=category)]
