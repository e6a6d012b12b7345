"""Citizen H5 pages under /points/ (balance, shop, my redemptions with QR) and the staff pickup page (核销)."""

from __future__ import annotations

import functools
import uuid

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from app.citizens.auth import current_citizen_id, staff_required
from app.citizens.models import Citizen
from app.extensions import db
from app.points import queries
from app.points.models import ENTRY_REASONS, REDEMPTION_LABELS, Reward
from app.points.present import local, pickup_url, pretty_code, qr_svg
from app.points.rewards import available_rewards, create_reward, restock, set_active
from app.points.services import (
    InvalidRequest,
    PointsError,
    RedemptionNotFound,
    cancel_redemption,
    collect_redemption,
    find_redemption,
    normalize_code,
    redeem,
)

pages_bp = Blueprint("pages", __name__)


@pages_bp.app_context_processor
def helpers():
    """Display helpers for the points templates."""
    return {
        "points_local": local,
        "pretty_code": pretty_code,
        "entry_labels": ENTRY_REASONS,
        "redemption_labels": REDEMPTION_LABELS,
    }


def citizen_page(view):
    """Signed-in citizens only; others see a page that links to WeChat sign-in (/points/login)."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        citizen_id = current_citizen_id()
        if citizen_id is None:
            return render_template("points/login_needed.html", next=request.path), 401
        g.citizen_id = citizen_id
        return view(*args, **kwargs)

    return wrapper


@pages_bp.get("/points/")
@citizen_page
def home():
    """Balance and history."""
    return render_template(
        "points/home.html",
        balance=queries.balance_of(g.citizen_id),
        entries=queries.recent_entries(g.citizen_id, limit=50),
    )


@pages_bp.get("/points/rewards")
@citizen_page
def shop():
    """The rewards shop; each form carries a fresh idempotency key so a double tap redeems once."""
    rewards = available_rewards()
    return render_template(
        "points/rewards.html",
        balance=queries.balance_of(g.citizen_id),
        rewards=rewards,
        keys={r.id: uuid.uuid4().hex for r in rewards},
    )


@pages_bp.post("/points/rewards/<int:reward_id>/redeem")
@citizen_page
def redeem_form(reward_id: int):
    """Redeem from the shop's form (CSRF-protected), then show my redemptions."""
    try:
        result = redeem(g.citizen_id, reward_id, request.form.get("idempotency_key"))
    except PointsError as exc:
        flash(exc.message, "error")
        return redirect(url_for(".shop"))
    code = result.redemption.code
    flash(f"兑换成功！领取码 {pretty_code(code)}，请凭码到兑换点领取", "ok")
    return redirect(url_for(".my_redemptions", new=code))


@pages_bp.get("/points/redemptions")
@citizen_page
def my_redemptions():
    """My redemptions with pickup codes and QR images."""
    return render_template(
        "points/redemptions.html", redemptions=queries.redemptions_of(g.citizen_id), new=request.args.get("new")
    )


@pages_bp.post("/points/redemptions/<code>/cancel")
@citizen_page
def cancel_form(code: str):
    """Cancel before pickup (CSRF-protected form)."""
    try:
        cancel_redemption(g.citizen_id, code)
    except PointsError as exc:
        flash(exc.message, "error")
    else:
        flash("已取消兑换，积分已退回", "ok")
    return redirect(url_for(".my_redemptions"))


@pages_bp.get("/points/redemptions/<code>/qr.svg")
@citizen_page
def redemption_qr(code: str):
    """The pickup QR of one's own redemption (404 for unknown codes, 403 for another citizen's)."""
    try:
        redemption = find_redemption(code)
    except RedemptionNotFound:
        abort(404, description="没有这个兑换码")
    if redemption.citizen_id != g.citizen_id:
        abort(403, description="这不是你的兑换码")
    return Response(
        qr_svg(pickup_url(redemption.code)),
        mimetype="image/svg+xml",
        headers={"Cache-Control": "private, max-age=3600"},
    )


@pages_bp.route("/points/staff/pickup", methods=["GET", "POST"])
@staff_required()
def staff_pickup():
    """Staff enter or scan a code, see what to hand over, and confirm (核销)."""
    code = normalize_code(request.values.get("code", ""))
    if request.method == "POST":
        try:
            collect_redemption(code, f"staff:{g.actor.id}:{g.actor.name}")
        except PointsError as exc:
            flash(exc.message, "error")
        else:
            flash("核销成功，请将奖品交给市民", "ok")
        return redirect(url_for(".staff_pickup", code=code))
    redemption, citizen, error = None, None, None
    if code:
        try:
            redemption = find_redemption(code)
            citizen = db.session.scalar(select(Citizen).where(Citizen.id == redemption.citizen_id))
        except RedemptionNotFound as exc:
            error = exc.message
    return render_template("points/staff_pickup.html", code=code, redemption=redemption, citizen=citizen, error=error)


def _form_int(name: str, *, required: bool = True) -> int | None:
    raw = (request.form.get(name) or "").strip()
    if not raw and not required:
        return None
    try:
        return int(raw)
    except ValueError:
        raise InvalidRequest(f"「{name}」应为整数") from None


@pages_bp.route("/points/staff/rewards", methods=["GET", "POST"])
@staff_required("admin")
def staff_rewards():
    """Admins keep the rewards catalogue: add a reward, restock or take units off, put it on or off the shelf."""
    if request.method == "POST":
        action = request.form.get("action")
        try:
            if action == "create":
                reward = create_reward(request.form.get("name", ""), _form_int("cost"), _form_int("stock"),
                                       _form_int("per_citizen", required=False),
                                       description=request.form.get("description", "").strip())
                flash(f"已添加奖品「{reward.name}」", "ok")
            elif action == "restock":
                reward = restock(_form_int("reward_id"), _form_int("delta"))
                flash(f"「{reward.name}」库存现为 {reward.stock}", "ok")
            elif action in ("activate", "deactivate"):
                reward = set_active(_form_int("reward_id"), action == "activate")
                flash(f"「{reward.name}」已{'上架' if reward.active else '下架'}", "ok")
            else:
                raise InvalidRequest("未知操作")
        except PointsError as exc:
            flash(exc.message, "error")
        return redirect(url_for(".staff_rewards"))
    rewards = db.session.scalars(select(Reward).order_by(Reward.active.desc(), Reward.cost, Reward.id)).all()
    return render_template("points/staff_rewards.html", rewards=rewards)
