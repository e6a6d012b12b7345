"""Use cases of the poi package: categories, the nearest-POI search (also used by the bot), signs and their scans."""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np
from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import select, update

from app.cache import cached, invalidate, invalidate_on_change
from app.extensions import db, get_redis
from app.geo import parse_coordinates
from app.jobs import enqueue
from app.poi.hours import is_open
from app.poi.index import CategoryInfo, PoiIndex
from app.poi.models import Poi, PoiCategory, Sign

log = logging.getLogger(__name__)

INDEX_NAME = "poi-index"
SIGNS_NAME = "poi-signs"
NEARBY_MEMO_TTL_S = 60.0  # a sign page's POIs are recomputed at least this often even without a change
NEARBY_MEMO_MAX = 2_000  # about 12 NearbyPoi each
WALK_M_PER_MIN = 75.0  # about 4.5 km/h, an unhurried walk
SCAN_KEY = "poi:scans:"  # + sign code: scans not yet written to signs.scan_count
SCAN_DIRTY = "poi:scans:dirty"  # set of codes with pending scans
SCAN_FLUSH_DUE = "poi:scans:flush-scheduled"  # set for one interval after a flush job was enqueued

# Any ORM commit that touches these rows tells every process (the index and the sign copy are rebuilt within
# INDEX_CHECK_INTERVAL_S); refresh_index()/refresh_signs() remain for bulk statements.
invalidate_on_change(Poi, INDEX_NAME)
invalidate_on_change(PoiCategory, INDEX_NAME)
invalidate_on_change(Sign, SIGNS_NAME)

DEFAULT_CATEGORIES = (
    # code, name, icon, sort
    ("toilet", "公厕", "🚻", 10),
    ("parking", "停车场", "🅿️", 20),
    ("police_kiosk", "治安岗亭", "👮", 30),
    ("car_wash", "洗车点", "🚿", 40),
)


class UnknownPoiCategory(ValueError):
    """A category code that is not an active POI category."""


@dataclass(frozen=True)
class NearbyPoi:
    """One POI near a point, as pages, the API and the bot show it (coordinates WGS-84, distance geodesic)."""

    id: int
    name: str
    category: str
    category_name: str
    category_icon: str
    distance_m: float
    lat: float
    lng: float
    address: str | None
    opening_hours: str | None
    open_now: bool | None  # None: hours unknown
    accessible: bool
    baby_room: bool
    fee: str | None
    spaces: int | None
    phone: str | None
    hours: list | None = field(default=None, repr=False, compare=False)  # parsed opening hours (hours.py)

    @property
    def walk_minutes(self) -> int:
        """Walking time in whole minutes (at least 1)."""
        return max(1, math.ceil(self.distance_m / WALK_M_PER_MIN))


# ------------------------------------------------------------------------------------------------ categories


def ensure_default_categories() -> int:
    """Add the four starting categories where missing (idempotent); returns how many were added."""
    existing = set(db.session.scalars(select(PoiCategory.code)))
    added = 0
    for code, name, icon, sort in DEFAULT_CATEGORIES:
        if code not in existing:
            db.session.add(PoiCategory(code=code, name=name, icon=icon, sort=sort, active=True))
            added += 1
    if added:
        db.session.commit()
        refresh_index()
    return added


def active_categories() -> list[PoiCategory]:
    """Active categories in display order."""
    stmt = select(PoiCategory).where(PoiCategory.active.is_(True)).order_by(PoiCategory.sort, PoiCategory.code)
    return list(db.session.scalars(stmt))


# ------------------------------------------------------------------------------------------------ the index


def load_index() -> PoiIndex:
    """Build the index from the database: one SELECT of four columns into numpy arrays (1M rows in seconds)."""
    categories = [CategoryInfo(c.id, c.code, c.name, c.icon, c.sort) for c in active_categories()]
    stmt = select(Poi.id, Poi.category_id, Poi.lat, Poi.lng).where(Poi.active.is_(True))
    conn = db.session.connection()
    sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    # The DB-API cursor directly: SQLAlchemy Row objects for a million rows would cost more than the tree build.
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    data = np.array(rows, dtype=np.float64).reshape(-1, 4)
    return PoiIndex.build(data[:, 0], data[:, 1], data[:, 2], data[:, 3], categories)


def poi_index() -> PoiIndex:
    """This process's current index (rebuilt within INDEX_CHECK_INTERVAL_S of a change anywhere)."""
    return cached(INDEX_NAME, load_index)


def refresh_index() -> None:
    """Tell every process the POIs changed (call after the commit)."""
    invalidate(INDEX_NAME)


def _details(hits, index: PoiIndex, at: datetime | None) -> list[NearbyPoi]:
    """Fetch the rows of the hits in one query and build NearbyPoi in hit order (rows deleted meanwhile drop out)."""
    if not hits:
        return []
    rows = {p.id: p for p in db.session.scalars(select(Poi).where(Poi.id.in_([h.poi_id for h in hits])))}
    out = []
    for hit in hits:
        poi = rows.get(hit.poi_id)
        if poi is None or not poi.active:
            continue
        cat = index.category(hit.category)
        out.append(
            NearbyPoi(
                id=poi.id, name=poi.name, category=hit.category, category_name=cat.name if cat else hit.category,
                category_icon=cat.icon if cat else "", distance_m=hit.distance_m, lat=poi.lat, lng=poi.lng,
                address=poi.address, opening_hours=poi.opening_hours,
                open_now=is_open(poi.opening_hours_parsed, at), accessible=poi.accessible, baby_room=poi.baby_room,
                fee=poi.fee, spaces=poi.spaces, phone=poi.phone, hours=poi.opening_hours_parsed,
            )
        )
    return out


def nearest_pois(lat: float, lng: float, category: str | None = None, k: int = 5,
                 within_m: float | None = None, at: datetime | None = None) -> list[NearbyPoi]:
    """The k POIs nearest to a WGS-84 point by geodesic distance (exact), optionally of one category / within metres.

    Raises InvalidCoordinates for bad coordinates and UnknownPoiCategory for a category that is not active.
    """
    lat, lng = parse_coordinates(lat, lng)
    index = poi_index()
    if category is not None and index.category(category) is None:
        raise UnknownPoiCategory(f"未知的设施类别 {category!r}")
    hits = index.nearest(lat, lng, category=category, k=k, within_m=within_m)
    return _details(hits, index, at)


def nearest_by_category(lat: float, lng: float, k: int = 3,
                        at: datetime | None = None) -> list[tuple[CategoryInfo, list[NearbyPoi]]]:
    """For each active category (display order), its k nearest POIs; one detail query for all of them.

    A sign's answer is the same for every scan until the POIs change, so it is memoised on the index object itself
    (a new index, after any import or refresh_index(), starts empty) for at most NEARBY_MEMO_TTL_S; open_now is
    recomputed on every call.
    """
    lat, lng = parse_coordinates(lat, lng)
    index = poi_index()
    key = (lat, lng, k)
    memo = index.memo.get(key)
    if memo is None or time.monotonic() - memo[0] > NEARBY_MEMO_TTL_S:
        per_category = [(cat, index.nearest(lat, lng, category=cat.code, k=k)) for cat in index.categories]
        details = {p.id: p for p in _details([h for _, hits in per_category for h in hits], index, at)}
        groups = [(cat, [details[h.poi_id] for h in hits if h.poi_id in details]) for cat, hits in per_category]
        if len(index.memo) >= NEARBY_MEMO_MAX:
            index.memo.clear()
        index.memo[key] = memo = (time.monotonic(), groups)
    return [(cat, [replace(p, open_now=is_open(p.hours, at)) for p in pois]) for cat, pois in memo[1]]


# ------------------------------------------------------------------------------------------------ signs and scans


def page_memo() -> dict:
    """A dict for answers derived from the current index (emptied whenever the index is rebuilt)."""
    return poi_index().memo.setdefault("pages", {})


@dataclass(frozen=True)
class SignView:
    """What the sign page needs of a sign (read as plain columns: cheaper than an ORM object per scan)."""

    id: int
    code: str
    label: str
    lat: float
    lng: float


_SIGN_COLUMNS = (Sign.id, Sign.code, Sign.label, Sign.lat, Sign.lng)


class SignTable:
    """This process's copy of the active signs, reloaded (one SELECT) when older than POI_SIGN_CACHE_TTL_S.

    A sign created, edited or retired through the ORM replaces the whole copy within INDEX_CHECK_INTERVAL_S (the
    `poi-signs` cache version); the TTL only bounds how long a change made outside the app (plain SQL) can hide.
    """

    def __init__(self) -> None:
        self.by_code: dict[str, SignView] = {}
        self.loaded_at = -math.inf
        self.lock = threading.Lock()

    def get(self, code: str, ttl: float) -> SignView | None:
        """The active sign with this code; a code not in the copy is looked up directly (new signs work at once)."""
        if time.monotonic() - self.loaded_at > ttl:
            with self.lock:
                if time.monotonic() - self.loaded_at > ttl:
                    rows = db.session.execute(select(*_SIGN_COLUMNS).where(Sign.active.is_(True))).all()
                    self.by_code = {r.code: SignView(*r) for r in rows}
                    self.loaded_at = time.monotonic()
        view = self.by_code.get(code)
        if view is None:
            stmt = select(*_SIGN_COLUMNS).where(Sign.code == code, Sign.active.is_(True))
            row = db.session.execute(stmt).first()
            view = SignView(*row) if row else None
        return view


def get_active_sign(code: str) -> SignView | None:
    """The active sign with this code, or None (unknown or retired).

    With POI_SIGN_CACHE_TTL_S > 0 (the default) signs come from a per-process copy that every ORM change to a sign
    replaces within INDEX_CHECK_INTERVAL_S; 0 reads the database on every scan.
    """
    if not code or len(code) > 16:
        return None
    ttl = float(current_app.config.get("POI_SIGN_CACHE_TTL_S", 0))
    if ttl > 0:
        return cached(SIGNS_NAME, SignTable).get(code, ttl)
    stmt = select(*_SIGN_COLUMNS).where(Sign.code == code, Sign.active.is_(True))
    row = db.session.execute(stmt).first()
    return SignView(*row) if row else None


def refresh_signs() -> None:
    """Tell every process the signs changed (call after the commit that created, edited or retired a sign)."""
    invalidate(SIGNS_NAME)


def count_scan(code: str) -> None:
    """Count one scan in Redis (no database write per request); `flush_scans` moves the counts to the signs table.

    One round trip: the count, the dirty set and, with rq workers, the claim of this window's flush job (the first
    scan of each POI_SCAN_FLUSH_INTERVAL_S enqueues it). Inline mode (the embedded default) has no workers and would
    write in the request: there, and during quiet hours, `flask poi flush-scans` from cron does it.
    """
    interval = int(current_app.config.get("POI_SCAN_FLUSH_INTERVAL_S", 60))
    schedule = interval > 0 and current_app.config.get("JOBS_MODE") == "rq"
    try:
        pipe = get_redis().pipeline(transaction=False)
        pipe.incr(SCAN_KEY + code)
        pipe.sadd(SCAN_DIRTY, code)
        if schedule:
            pipe.set(SCAN_FLUSH_DUE, 1, nx=True, ex=interval)
        results = pipe.execute()
        if schedule and results[-1]:
            enqueue("app.poi.tasks.flush_scans_job", job_id="poi-flush-scans")
    except RedisError as exc:  # a lost count must never break the page
        log.warning("scan of %s not counted: %s", code, exc)


def pending_scans(code: str) -> int:
    """Scans counted in Redis and not flushed yet."""
    return int(get_redis().get(SCAN_KEY + code) or 0)


def flush_scans() -> int:
    """Add the scans counted in Redis to signs.scan_count (one commit); returns how many scans were written.

    Each code's counter is taken with GETDEL, so scans arriving meanwhile go to a fresh counter; if the commit
    fails the taken counts are put back.
    """
    r = get_redis()
    taken: dict[str, int] = {}
    for raw in r.smembers(SCAN_DIRTY):
        code = raw.decode() if isinstance(raw, bytes) else raw
        r.srem(SCAN_DIRTY, code)
        n = int(r.getdel(SCAN_KEY + code) or 0)
        if n:
            taken[code] = n
    if not taken:
        return 0
    try:
        for code, n in taken.items():
            db.session.execute(update(Sign).where(Sign.code == code).values(scan_count=Sign.scan_count + n))
        db.session.commit()
    except Exception:
        db.session.rollback()
        for code, n in taken.items():
            r.incrby(SCAN_KEY + code, n)
            r.sadd(SCAN_DIRTY, code)
        raise
    return sum(taken.values())
