"""Bot jobs: fetch a case's photos from WeChat after submission; keep the shared access_token warm."""

from __future__ import annotations

import logging

import requests
from flask import current_app
from rq import get_current_job
from sqlalchemy import select

from app.bot import messages as M
from app.bot.client import WeChatClientException, download_media, get_client
from app.bot.replies import flush_replies
from app.extensions import db
from app.jobs import app_job, enqueue
from app.media import MediaRejected, store_image
from app.reports.models import ReportPhoto
from app.reports.services import attach_photo, mark_photo_missing

log = logging.getLogger(__name__)

WECHAT_PREFIX = "wechat:"


def fetch_photos(report_id: int) -> int:
    """Enqueue a download job for each WeChat photo of a case still pending (after its commit); how many."""
    ids = db.session.scalars(
        select(ReportPhoto.id).where(
            ReportPhoto.report_id == report_id,
            ReportPhoto.status == "pending",
            ReportPhoto.source_ref.startswith(WECHAT_PREFIX),
        )
    ).all()
    db.session.commit()
    for photo_id in ids:
        try:
            enqueue(download_photo, photo_id, queue="media", job_id=f"wx-media-{photo_id}")
        except Exception as exc:  # Redis down: `flask wechat photos fetch` enqueues what is still pending
            log.warning("bot: could not enqueue the download of photo %s: %s", photo_id, exc)
    return len(ids)


def refetch_pending_photos() -> tuple[int, int]:
    """Enqueue downloads for every WeChat photo still pending (Redis was down, a job was lost); (photos, cases)."""
    report_ids = db.session.scalars(
        select(ReportPhoto.report_id)
        .where(ReportPhoto.status == "pending", ReportPhoto.source_ref.startswith(WECHAT_PREFIX))
        .distinct()
    ).all()
    return sum(fetch_photos(rid) for rid in report_ids), len(report_ids)


@app_job
def refetch_pending_photos_job() -> int:
    """The periodic form of refetch_pending_photos (a queued or running download is not enqueued twice)."""
    return refetch_pending_photos()[0]


def _last_try() -> bool:
    job = get_current_job()
    return job is None or not job.retries_left


@app_job
def download_photo(photo_id: int) -> str:
    """media/get → app.media checks → the photo is stored, or missing with the reason. Safe to run twice."""
    photo = db.session.get(ReportPhoto, photo_id)
    if photo is None or photo.status != "pending" or not (photo.source_ref or "").startswith(WECHAT_PREFIX):
        return "skipped"
    media_id = photo.source_ref[len(WECHAT_PREFIX) :]
    db.session.rollback()  # no transaction open while we wait on WeChat
    try:
        data = download_media(media_id)
    except WeChatClientException as exc:
        if exc.errcode == 40007:
            mark_photo_missing(photo_id, f"{M.MEDIA_EXPIRED}（40007）")
            return "expired"
        if _last_try():
            mark_photo_missing(photo_id, f"{M.MEDIA_FAILED}（{exc.errcode}）")
            return "failed"
        raise
    except requests.RequestException as exc:
        if _last_try():
            mark_photo_missing(photo_id, f"{M.MEDIA_FAILED}（{type(exc).__name__}）")
            return "failed"
        raise
    try:
        stored = store_image(data)
    except MediaRejected as exc:
        mark_photo_missing(photo_id, exc.message)
        return "rejected"
    attach_photo(photo_id, stored.sha256, stored.width, stored.height)
    return "stored"


@app_job
def refresh_access_token_job() -> str:
    """Fetch the access_token as soon as the shared one has run out, so no job waits for it (cron, every minute).

    The stored token expires five minutes before WeChat's (TOKEN_MARGIN_S), which is when stable_token starts
    handing out the next one; a valid token is left alone (one Redis EXISTS a minute).
    """
    if not current_app.config.get("WECHAT_APP_ID") or not current_app.config.get("WECHAT_APP_SECRET"):
        return "not configured"
    client = get_client()
    if client.session.get(client.access_token_key):
        return "valid"
    client.fetch_access_token()
    return "refreshed"


@app_job
def flush_replies_job() -> int:
    """Write the queued replies to their inbound rows (safe to run any time, any number of times)."""
    return flush_replies()
