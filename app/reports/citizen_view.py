"""The one view of a case that citizens and the public may see.

Every citizen surface (the chat, 「我的举报」, the public case page, Open311, notifications, and the H5 and
mini-program pages) builds what it shows from `citizen_view`; staff surfaces read the case whole. The rule lives
here once: a step of the loop is shown as a fact (立案, 已派遣, 已处置 …), its note only when the entry is public, a
comment only when its writer made it public, internal steps (督办 warnings, recategorisation, …) never; no staff
names, no openids, no phone numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app

from app.extensions import db
from app.moderation.masks import mask_personal
from app.reports.models import STATUS_LABELS, Report, ReportEvent
from app.reports.workflow import CANCEL_REASONS

# What a citizen reads for each step that they may see (the fact, not the staff's note).
CITIZEN_STEP_LABELS = {
    "submit": "提交举报",
    "register": "已立案",
    "dispatch": "已派遣至责任单位",
    "handle": "已处置",
    "verify": "已核查",
    "send_back": "核查未通过，重新处置",
    "close": "已结案",
    "reopen": "重新办理",
    "cancel": "已注销",
    "mark_duplicate": "已合并到同一问题的案件",
    "invalidate": "认定为不实举报",
    "overdue": "已超期，督促办理中",
    "comment": "办理说明",
    "unresolved": "群众反映问题未解决，重新办理中",
}
# Steps that are shown only when their entry is public (a comment is a note and nothing else).
NOTE_ONLY_STEPS = frozenset({"comment"})
# States before a case is accepted: its photos stay with the reporter until then.
UNACCEPTED = frozenset({"reported", "cancelled"})


@dataclass(frozen=True)
class CitizenStep:
    """One step of a case as a citizen sees it."""

    seq: int
    action: str
    label: str
    status: str
    status_label: str
    at: datetime
    note: str | None = None

    def local_time(self, fmt: str = "%Y-%m-%d %H:%M") -> str:
        """The step's time in the city's time zone."""
        return self.at.astimezone(ZoneInfo(current_app.config.get("TIMEZONE", "Asia/Shanghai"))).strftime(fmt)


@dataclass(frozen=True)
class CitizenPhoto:
    """A stored photo a citizen may see: the reporter's (report) or the handling unit's (handling)."""

    id: int
    kind: str
    sha256: str
    width: int | None
    height: int | None


@dataclass(frozen=True)
class CitizenCase:
    """What a citizen (the reporter, a follower) or the public may see of a case."""

    case_number: str
    status: str
    status_label: str
    category_code: str | None
    category_name: str
    department_name: str | None
    submitted_at: datetime
    updated_at: datetime
    deadline_at: datetime | None
    closed: bool
    description: str
    address: str | None
    lat: float | None = None
    lng: float | None = None
    area_name: str | None = None
    steps: list[CitizenStep] = field(default_factory=list)
    photos: list[CitizenPhoto] = field(default_factory=list)

    @property
    def public_notes(self) -> list[str]:
        """The notes written for citizens, oldest first."""
        return [s.note for s in self.steps if s.note]

    @property
    def latest_note(self) -> str | None:
        """The newest public note (what Open311 calls status_notes)."""
        notes = self.public_notes
        return notes[-1] if notes else None


def is_public_entry(entry: ReportEvent) -> bool:
    """Whether a trail entry appears to citizens at all (its note is a separate question: `public_note`)."""
    if entry.action not in CITIZEN_STEP_LABELS:
        return False
    if entry.action in NOTE_ONLY_STEPS:
        return entry.visibility == "public" and bool(entry.note)
    return True


def public_note(entry: ReportEvent) -> str | None:
    """The entry's note when its writer (or the fixed rule for system entries) made it public."""
    if entry.visibility != "public" or not entry.note:
        return None
    return entry.note


def citizen_step(entry: ReportEvent) -> CitizenStep:
    """A public trail entry as a citizen reads it."""
    label = CITIZEN_STEP_LABELS[entry.action]
    if entry.action == "cancel" and (entry.data or {}).get("reason") in CANCEL_REASONS:
        label += f"（{CANCEL_REASONS[entry.data['reason']]}）"
    return CitizenStep(
        seq=entry.seq,
        action=entry.action,
        label=label,
        status=entry.to_status,
        status_label=STATUS_LABELS.get(entry.to_status, entry.to_status),
        at=entry.created_at,
        note=public_note(entry),
    )


def is_public(report: Report) -> bool:
    """Whether the case appears on public surfaces at all (a moderator can hide it)."""
    return report.moderation != "hidden"


def public_text(report: Report) -> str:
    """The description as the public may read it: once registered and passed by screening or a moderator, the
    moderator's edit or the original with personal data masked; else nothing."""
    if report.status in UNACCEPTED or report.moderation not in ("clear", "approved"):
        return ""
    return report.public_description or mask_personal(report.description or "")[0]


def public_point(report: Report) -> tuple[float | None, float | None]:
    """The case's point rounded to PUBLIC_LOCATION_PRECISION_M, except for a fixed public facility (部件): there
    the exact spot is the facility's, not the reporter's."""
    if report.lat is None or report.lng is None:
        return None, None
    if report.category is not None and report.category.kind == "component":
        return report.lat, report.lng
    step_m = float(current_app.config.get("PUBLIC_LOCATION_PRECISION_M", 10))
    if step_m <= 0:
        return report.lat, report.lng
    dlat = step_m / 111_320.0
    dlng = step_m / (111_320.0 * max(0.01, math.cos(math.radians(report.lat))))
    return round(round(report.lat / dlat) * dlat, 6), round(round(report.lng / dlng) * dlng, 6)


def _area(report: Report) -> str | None:
    """The street (level 2 of the grid) the case lies in, else its own cell's name."""
    cell = report.grid
    while cell is not None and cell.level > 2 and cell.parent_id is not None:
        cell = db.session.get(type(cell), cell.parent_id)
    return cell.name if cell is not None else None


def citizen_view(report: Report, audience: str = "public") -> CitizenCase:
    """Build what `audience` may see of `report`: "reporter" (its own reporter or a follower) or "public".

    The reporter sees their own words and photos (never hidden ones); the public sees the description and the
    reporter's photos only once the case is registered and moderation has passed, with personal data masked and
    the point rounded. Callers check `is_public` before showing a case to the public at all.
    """
    if audience not in ("reporter", "public"):
        raise ValueError(f"unknown audience {audience!r}")
    accepted = report.status not in UNACCEPTED
    public_ok = accepted and report.moderation in ("clear", "approved")
    reporter = audience == "reporter"
    photos = [
        CitizenPhoto(p.id, p.kind, p.sha256, p.width, p.height)
        for p in report.photos
        if p.status == "stored" and p.sha256 and not p.hidden and (p.kind == "handling" or public_ok or reporter)
    ]
    steps = [citizen_step(e) for e in report.trail if is_public_entry(e)]
    lat, lng = (report.lat, report.lng) if reporter else public_point(report)
    return CitizenCase(
        case_number=report.case_number,
        status=report.status,
        status_label=report.status_label,
        category_code=report.category.code if report.category else None,
        category_name=report.category.name if report.category else "待分类",
        department_name=report.department.name if report.department and report.status != "reported" else None,
        submitted_at=report.submitted_at,
        updated_at=report.updated_at,
        deadline_at=report.deadline_at,
        closed=report.status in ("closed", "cancelled"),
        description=(report.description or "") if reporter else public_text(report),
        address=report.address if reporter else (mask_personal(report.address)[0] if report.address else None),
        lat=lat,
        lng=lng,
        area_name=_area(report),
        steps=steps,
        photos=photos,
    )
