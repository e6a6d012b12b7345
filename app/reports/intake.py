"""Reports with uploaded photos, for the channels that upload them (the H5 form, the mini-program API).

Order matters so that nothing is half-saved: a replay (same client key) answers the first case before anything is
read; then the number of photos, the location, the service area, the text and the category are checked; only then
are the photos decoded, stripped and stored by app.media (any refusal stops the whole submission before a case row
is written); the case and its photos are written in submit_report's one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from app.media import MediaRejected, store_images
from app.reports.models import Report
from app.reports.services import (
    OutsideServiceArea,
    PhotoInput,
    Submission,
    check_submission,
    report_by_client_ref,
    submit_report,
)
from app.reports.workflow import ReportError


class TooManyPhotos(ReportError):
    """More photos than a case takes."""

    code = "too_many_photos"


class PhotoRefused(ReportError):
    """A photo app.media would not accept (not an image, too large, too many pixels): `reason` is its code."""

    code = "photo_refused"

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Intake:
    """The case a submission made (or found, when `replayed`)."""

    report: Report
    replayed: bool


def refusal_status(exc: ReportError) -> int:
    """The HTTP status of a refused upload: 422 outside the service area, 413 too many or too large photos, else 400."""
    if isinstance(exc, OutsideServiceArea):
        return 422
    if isinstance(exc, TooManyPhotos) or (isinstance(exc, PhotoRefused) and exc.reason == "too_large"):
        return 413
    return 400


def read_photo_uploads(files) -> list[bytes]:
    """The bytes of uploaded files (werkzeug FileStorage), each read at most one byte past MEDIA_MAX_BYTES.

    Too many files (TooManyPhotos) or one too large (PhotoRefused, reason too_large) is refused before the rest is
    read or anything is decoded.
    """
    files = [f for f in files if f is not None]
    limit, max_bytes = current_app.config["REPORT_MAX_PHOTOS"], current_app.config["MEDIA_MAX_BYTES"]
    if len(files) > limit:
        raise TooManyPhotos(f"最多上传 {limit} 张照片")
    photos = [f.read(max_bytes + 1) for f in files]
    if any(len(p) > max_bytes for p in photos):
        raise PhotoRefused(f"照片未通过检查：每张照片不能超过 {max_bytes // 1024 // 1024} MB", "too_large")
    return [p for p in photos if p]  # an empty file input sends one empty part: no photo


def submit_with_photos(sub: Submission, photos: list[bytes]) -> Intake:
    """Check everything, store the photos, submit; a known client_ref answers its case without doing anything."""
    if sub.client_ref:
        existing = report_by_client_ref(sub.client_ref)
        if existing is not None:
            return Intake(existing, True)
    limit = current_app.config["REPORT_MAX_PHOTOS"]
    if len(photos) > limit:
        raise TooManyPhotos(f"最多上传 {limit} 张照片")
    sub.photos = [PhotoInput(source_ref="upload") for _ in photos]  # placeholders: a case with photos may be wordless
    check_submission(sub)
    stored, seen = [], set()
    try:
        images = store_images(photos)
    except MediaRejected as exc:
        raise PhotoRefused(f"照片未通过检查：{exc.message}", exc.code) from exc
    for image in images:
        if image.sha256 not in seen:
            seen.add(image.sha256)
            stored.append(PhotoInput(sha256=image.sha256, width=image.width, height=image.height))
    sub.photos = stored
    return Intake(submit_report(sub), False)  # a parallel twin that won the race is answered as its case too
