"""The H5 report form (/report) and 「我的举报」 (/me/cases). Thin: parse, call a use case, render or answer JSON.

Inside WeChat the citizen is known through OAuth (snsapi_base, app/bot/h5_oauth.py). Outside WeChat a report may be
anonymous (H5_ANONYMOUS_REPORTS), limited per client address, with an optional phone number kept for staff only.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, abort, current_app, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select

from app.bot import h5_oauth
from app.citizens.auth import current_citizen_id
from app.extensions import db, get_redis
from app.media import MediaRejected, path_for
from app.poi.services import get_active_sign
from app.reports.categories import suggest_category
from app.reports.citizen_view import citizen_view
from app.reports.feedback import (
    RATINGS,
    AlreadyAnswered,
    FeedbackClosed,
    VisitNotFound,
    answer_case_visit,
    is_pending,
    latest_visits,
)
from app.reports.followers import own_and_followed
from app.reports.intake import read_photo_uploads, refusal_status, submit_with_photos
from app.reports.models import Report
from app.reports.services import Submission
from app.reports.workflow import ConcurrentUpdate, ReportError

bp = Blueprint("h5", __name__)
bp.register_blueprint(h5_oauth.bp)

KEY_RE = re.compile(r"[A-Za-z0-9_.:\-]{8,100}")
PHONE_RE = re.compile(r"\+?[0-9][0-9 \-]{5,18}[0-9]")


def in_wechat() -> bool:
    """Opened in WeChat's browser."""
    return "MicroMessenger" in request.headers.get("User-Agent", "")


def _login_redirect():
    return redirect(url_for("h5.oauth.login", next=request.full_path.rstrip("?")))


def _jssdk() -> bool:
    return in_wechat() and current_app.extensions.get("wechat_jssdk_signer") is not None


@bp.get("/report")
def report_form():
    """The form: photos, location (WeChat, browser, the sign, a map point), description with suggestions."""
    citizen_id = current_citizen_id()
    if citizen_id is None and in_wechat():
        return _login_redirect()
    if citizen_id is None and not current_app.config["H5_ANONYMOUS_REPORTS"]:
        return render_template("h5/open_in_wechat.html"), 403
    sign = get_active_sign(request.args.get("sign", "")) if request.args.get("sign") else None
    cfg = current_app.config
    return render_template("h5/report.html", sign=sign, signed_in=citizen_id is not None, jssdk=_jssdk(),
                           max_photos=cfg["REPORT_MAX_PHOTOS"], tile_url=cfg.get("MAP_TILE_URL") or "",
                           tile_crs=cfg.get("MAP_TILE_CRS") or "wgs84",
                           tile_attribution=cfg.get("MAP_TILE_ATTRIBUTION") or "")


def _refuse(status: int, code: str, message: str):
    if request.accept_mimetypes.best == "application/json":
        return jsonify(error=code, message=message), status
    return render_template("h5/refused.html", message=message), status


def _anonymous_allowed() -> bool:
    """Under the per-client limit of anonymous reports (counted after each new case)."""
    count = get_redis().get(f"h5:anon:{request.remote_addr}")
    return int(count or 0) < current_app.config["H5_ANONYMOUS_RATE_LIMIT"]


def _count_anonymous() -> None:
    key = f"h5:anon:{request.remote_addr}"
    pipe = get_redis().pipeline()
    pipe.incr(key)
    pipe.expire(key, current_app.config["H5_ANONYMOUS_RATE_WINDOW_S"], nx=True)
    pipe.execute()


@bp.url_value_preprocessor
def _upload_limit(endpoint, values):
    """The report form takes photos: its own body limit, set before the CSRF check parses the form (url value
    preprocessors run before every before_request function)."""
    if endpoint == "h5.submit":
        request.max_content_length = current_app.config["REPORT_UPLOAD_MAX_BYTES"]


@bp.post("/report")
def submit():
    """One case through submit_report (channel h5) with the page's own idempotency key: a retry is the same case."""
    citizen_id = current_citizen_id()
    if citizen_id is None and (in_wechat() or not current_app.config["H5_ANONYMOUS_REPORTS"]):
        return _refuse(401, "unauthorized", "请在微信中打开并登录后再上报")
    key = request.form.get("idempotency_key", "")
    if not KEY_RE.fullmatch(key):
        return _refuse(400, "invalid_request", "页面已过期，请刷新后再提交")
    phone = (request.form.get("phone") or "").strip() if citizen_id is None else ""
    if phone and not PHONE_RE.fullmatch(phone):
        return _refuse(400, "invalid_phone", "电话号码格式不对")
    if citizen_id is None and not _anonymous_allowed():
        return _refuse(429, "too_many_reports", "提交太频繁了，请稍后再试，或在微信中打开本页面")
    form = request.form
    if not form.get("lat") or not form.get("lng"):
        return _refuse(400, "invalid_report", "请先选择问题的位置")
    sub = Submission(channel="h5", lat=form["lat"], lng=form["lng"], crs=form.get("crs") or "wgs84",
                     description=form.get("description", ""), category_code=form.get("category_code") or None,
                     citizen_id=citizen_id, address=(form.get("address") or "")[:200] or None,
                     client_ref=f"h5:{citizen_id or 'anon'}:{key}", contact_phone=phone or None)
    try:
        intake = submit_with_photos(sub, read_photo_uploads(request.files.getlist("photo")))
    except ReportError as exc:
        return _refuse(refusal_status(exc), exc.code, exc.message)
    if citizen_id is None and not intake.replayed:
        _count_anonymous()
    number = intake.report.case_number
    done = url_for("h5.done", case_number=number)
    if request.accept_mimetypes.best == "application/json":
        return jsonify(case_number=number, url=done, public_url=url_for("reports.public_case", case_number=number)), 201
    return redirect(done, code=303)


@bp.get("/report/done/<case_number>")
def done(case_number: str):
    """The answer page: the case number and its public page."""
    report = db.session.scalar(select(Report).where(Report.case_number == case_number))
    if report is None:
        abort(404)
    return render_template("h5/done.html", case_number=report.case_number,
                           public_url=url_for("reports.public_case", case_number=report.case_number),
                           signed_in=current_citizen_id() is not None)


@bp.get("/api/report/suggest")
def suggest():
    """Categories suggested for the description as the citizen types (the bot's suggestion)."""
    text = (request.args.get("text") or "")[:500]
    return jsonify(suggestions=[{"code": s.code, "name": s.name, "confidence": round(s.confidence, 2)}
                                for s in suggest_category(text)])


@bp.get("/me/cases")
def my_cases():
    """The citizen's cases and the cases they follow, with their public trail and before/after photos (the citizen
    view), and the return visit's three answers where one waits for this citizen."""
    citizen_id = current_citizen_id()
    if citizen_id is None:
        return _login_redirect()
    own, followed = own_and_followed(citizen_id, limit=50)
    visits = latest_visits([r.id for r in own + followed], citizen_id)
    asked = {r.case_number for r in own + followed if is_pending(visits.get(r.id))}
    return render_template("h5/cases.html", cases=[citizen_view(r, "reporter") for r in own],
                           followed=[citizen_view(r, "public") for r in followed], asked=asked,
                           answered=request.args.get("answered"), jssdk=_jssdk())


VISIT_REFUSALS = {
    VisitNotFound: (404, "这个案件没有请您评价的回访"),
    AlreadyAnswered: (409, "您已经评价过这个案件，谢谢！"),
    ConcurrentUpdate: (409, "您已经评价过这个案件，谢谢！"),
    FeedbackClosed: (410, "评价时间已过。如问题仍在，请重新上报。"),
}


@bp.post("/me/cases/<case_number>/feedback")
def answer_visit(case_number: str):
    """The return visit's answer from 「我的举报」 (满意 / 基本满意 / 不满意, optional words): the chat's use case."""
    citizen_id = current_citizen_id()
    if citizen_id is None:
        return _login_redirect()
    rating = request.form.get("rating")
    try:
        if rating not in RATINGS:  # only a tampered form sends another: as if nothing had been asked
            raise VisitNotFound(case_number)
        answer_case_visit(case_number, citizen_id, rating, comment=request.form.get("comment"))
    except (VisitNotFound, AlreadyAnswered, ConcurrentUpdate, FeedbackClosed) as exc:
        status, message = VISIT_REFUSALS[type(exc)]
        return render_template("h5/refused.html", message=message, back="h5.my_cases"), status
    return redirect(url_for("h5.my_cases", answered=case_number), 303)


@bp.get("/me/cases/<case_number>/photos/<int:photo_id>")
def case_photo(case_number: str, photo_id: int):
    """A photo of one's own case that its citizen view shows (?variant=thumb)."""
    citizen_id = current_citizen_id()
    report = db.session.scalar(select(Report).where(Report.case_number == case_number))
    if citizen_id is None or report is None or report.citizen_id != citizen_id:
        abort(404)
    photo = next((p for p in citizen_view(report, "reporter").photos if p.id == photo_id), None)
    try:
        path = path_for(photo.sha256 if photo else "", request.args.get("variant", "original"))
    except MediaRejected:
        abort(404)
    if not path.exists():
        abort(404)
    return Response(path.read_bytes(), mimetype="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})
