"""The job that fetches an Open311 request's media_url: app.fetch's checks (allow-list, every address public, the
checked address pinned, redirects re-checked, size capped), then the usual image checks of app.media."""

from __future__ import annotations

from flask import current_app

from app.extensions import db
from app.fetch import FetchPolicy, FetchRefused, fetch
from app.jobs import app_job
from app.media import MediaRejected, store_image
from app.reports.models import ReportPhoto
from app.reports.services import attach_photo, mark_photo_missing

SOURCE_PREFIX = "url:"


def media_policy() -> FetchPolicy:
    """OPEN311_MEDIA_HOSTS and MEDIA_MAX_BYTES under the app's FETCH_* settings."""
    cfg = current_app.config
    return FetchPolicy.from_config(cfg, cfg.get("OPEN311_MEDIA_HOSTS") or [], cfg["MEDIA_MAX_BYTES"])


@app_job
def fetch_media_url(photo_id: int) -> str:
    """Fetch a pending `url:` photo once; the photo ends stored, or missing with the reason (the case goes on)."""
    photo = db.session.get(ReportPhoto, photo_id)
    if photo is None or photo.status != "pending" or not (photo.source_ref or "").startswith(SOURCE_PREFIX):
        return "nothing to do"
    url = photo.source_ref[len(SOURCE_PREFIX):]
    db.session.rollback()  # hold no transaction while the network is slow (on SQLite it would hold the lock)
    try:
        stored = store_image(fetch(url, media_policy()))
    except (FetchRefused, MediaRejected) as exc:
        reason = exc.message if isinstance(exc, MediaRejected) else f"media_url not fetched: {exc}"
        mark_photo_missing(photo_id, reason)
        return f"missing: {reason}"
    attach_photo(photo_id, stored.sha256, stored.width, stored.height)
    return "stored"
