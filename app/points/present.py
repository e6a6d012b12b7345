"""How ledger records look to the outside: JSON shapes and display helpers shared by the API and the pages."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import qrcode
import qrcode.image.svg
from flask import current_app, url_for

from app.extensions import api_timestamp
from app.points.models import ENTRY_REASONS, REDEMPTION_LABELS, PointsEntry, Redemption, Reward

iso = api_timestamp


def local(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A timestamp in the configured local time zone (for pages)."""
    return value.astimezone(ZoneInfo(current_app.config["TIMEZONE"])).strftime(fmt) if value else ""


def pretty_code(code: str) -> str:
    """ABCDE-FGHJK: easier to read aloud and type."""
    return f"{code[:5]}-{code[5:]}" if len(code) == 10 else code


def entry_json(entry: PointsEntry) -> dict:
    """One ledger line."""
    return {
        "id": entry.id,
        "amount": entry.amount,
        "balance_after": entry.balance_after,
        "reason": entry.reason,
        "reason_label": ENTRY_REASONS.get(entry.reason, entry.reason),
        "reference": entry.reference,
        "note": entry.note,
        "shortfall": entry.shortfall,
        "created_at": iso(entry.created_at),
    }


def reward_json(reward: Reward) -> dict:
    """One reward of the catalogue."""
    return {
        "id": reward.id,
        "name": reward.name,
        "description": reward.description,
        "picture_url": reward.picture_url,
        "cost": reward.cost,
        "stock": reward.stock,
        "per_citizen_limit": reward.per_citizen_limit,
        "valid_from": iso(reward.valid_from),
        "valid_until": iso(reward.valid_until),
        "active": reward.active,
    }


def redemption_json(r: Redemption) -> dict:
    """One redemption (the same fields for the first answer and for a replay with the same key)."""
    return {
        "code": r.code,
        "reward_id": r.reward_id,
        "reward_name": r.reward.name,
        "cost": r.cost,
        "balance_after": r.balance_after,
        "status": r.status,
        "status_label": REDEMPTION_LABELS[r.status],
        "expires_at": iso(r.expires_at),
        "created_at": iso(r.created_at),
        "collected_at": iso(r.collected_at),
        "cancelled_at": iso(r.cancelled_at),
        "expired_at": iso(r.expired_at),
        "qr_url": url_for("points.pages.redemption_qr", code=r.code),
    }


def pickup_url(code: str) -> str:
    """What the QR holds: the staff pickup page for this code (staff scan it with their phone)."""
    return f"{current_app.config['PUBLIC_BASE_URL']}/points/staff/pickup?code={code}"


def qr_svg(data: str) -> bytes:
    """A QR code as a small SVG document."""
    img = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    return img.to_string(encoding="unicode").encode()
