"""Moderating what the public sees of a case: approve flagged text, edit the public text (the original stays for
staff), hide or show a photo, hide or show the whole case, resolve flags. One transaction each; every action goes
on the case's trail as an internal entry with the moderator's name.
"""

from __future__ import annotations

from sqlalchemy import exists, or_, select

from app.citizens.services import Actor
from app.events import utcnow
from app.extensions import db
from app.moderation.masks import mask_personal
from app.reports.models import CaseFlag, Report, ReportPhoto
from app.reports.services import InvalidReport, _append_trail_after_bump, get_report
from app.reports.workflow import NotAllowed

MODERATORS = frozenset({"admin", "moderator"})
OPS = {
    "approve": "审核通过",
    "edit": "修改公开内容",
    "hide_photo": "隐藏照片",
    "show_photo": "恢复照片",
    "hide_case": "不予公开",
    "show_case": "恢复公开",
    "dismiss_flags": "驳回举报",
}


def moderation_queue(limit: int = 100) -> list[Report]:
    """Cases waiting for a moderator: flagged by screening, or flagged by the public and not yet resolved."""
    open_flag = exists().where(CaseFlag.report_id == Report.id, CaseFlag.resolved_at.is_(None))
    return list(
        db.session.scalars(
            select(Report)
            .where(or_(Report.moderation == "flagged", open_flag))
            .order_by(Report.submitted_at, Report.id)
            .limit(limit)
        )
    )


def open_flags(report_id: int) -> list[CaseFlag]:
    """The public's unresolved flags on a case, oldest first."""
    return list(
        db.session.scalars(
            select(CaseFlag)
            .where(CaseFlag.report_id == report_id, CaseFlag.resolved_at.is_(None))
            .order_by(CaseFlag.id)
        )
    )


def moderate(
    report_id: int,
    actor: Actor,
    op: str,
    *,
    text: str | None = None,
    photo_id: int | None = None,
    note: str | None = None,
) -> Report:
    """Take one moderation action; raises NotAllowed (role) or InvalidReport (bad op, text or photo)."""
    if actor.role not in MODERATORS:
        raise NotAllowed("只有审核员或管理员可以审核公开内容")
    if op not in OPS:
        raise InvalidReport(f"未知审核操作 {op!r}")
    report = get_report(report_id)
    data: dict = {"op": op}
    now = utcnow()
    with db.session.no_autoflush:
        if op in ("approve", "show_case"):
            report.moderation = "approved"
        elif op == "edit":
            text = (text or "").strip()
            if not text or len(text) > 4000:
                raise InvalidReport("请填写公开的问题描述（不超过 4000 字）")
            report.public_description = mask_personal(text)[0]
            report.moderation = "approved"
            data["public_description"] = report.public_description
        elif op in ("hide_photo", "show_photo"):
            photo = db.session.get(ReportPhoto, photo_id) if photo_id else None
            if photo is None or photo.report_id != report.id:
                raise InvalidReport("没有这张照片")
            photo.hidden = op == "hide_photo"
            report.updated_at = now  # the case's version moves with any change to what it shows
            data["photo_id"] = photo.id
        elif op == "hide_case":
            report.moderation = "hidden"
        elif op == "dismiss_flags":
            report.updated_at = now
        if op in ("approve", "edit", "hide_case", "dismiss_flags"):
            for flag in open_flags(report.id):
                flag.resolved_at, flag.resolved_by = now, actor.name[:64]
    _append_trail_after_bump(
        report, "moderate", report.status, actor, (note or "").strip() or OPS[op], data, "internal"
    )
    db.session.commit()
    return report
