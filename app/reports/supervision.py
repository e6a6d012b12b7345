"""督办 and correcting a case: recategorize, a supervisor's 督办, and the deadline warning/escalation sweep.

Each use case is one transaction that bumps the case's version, appends one internal trail entry (actions
"recategorize", "supervise", "deadline_warning", "deadline_escalation") and, for the 督办 steps, emits StaffAlert so
that the department's handlers (and for escalations and 督办 its head and the supervisors) are told.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from app.citizens.services import Actor
from app.events import StaffAlert, emit, utcnow
from app.extensions import api_timestamp, db
from app.observability import SUPERVISION_STEPS
from app.reports.deadlines import case_deadline, warn_time
from app.reports.models import OPEN_STATUSES, Category, Report, ReportEvent
from app.reports.services import InvalidReport, UnknownCategory, get_report
from app.reports.workflow import ConcurrentUpdate, InvalidTransition, NotAllowed

RECATEGORIZE_ROLES = frozenset({"admin", "dispatcher"})
SUPERVISE_ROLES = frozenset({"admin", "dispatcher", "supervisor"})
SUPERVISE_STATUSES = ("registered", "dispatched", "handled")
MAX_NOTE = 2000
# Actions of POST /cases/{id}/transitions that are not steps of the loop (the state does not change).
CASE_ACTIONS = {"recategorize": "更正类别", "supervise": "督办"}
ALERT_LABELS = {
    "deadline_warning": "临期预警",
    "deadline_escalation": "超期升级督办",
    "supervise": "督办",
    "recategorize": "更正类别",
}


def available_case_actions(report: Report, actor: Actor) -> list[str]:
    """Which of recategorize / supervise this actor may take on the case now (buttons, the API's `actions`)."""
    out = []
    if actor.role in RECATEGORIZE_ROLES and report.status in OPEN_STATUSES:
        out.append("recategorize")
    if actor.role in SUPERVISE_ROLES and report.status in SUPERVISE_STATUSES:
        out.append("supervise")
    return out


def registered_at(report: Report) -> datetime:
    """When the case was registered (立案): its first "register" trail entry, else its submission."""
    at = db.session.scalar(
        select(ReportEvent.created_at)
        .where(ReportEvent.report_id == report.id, ReportEvent.action == "register")
        .order_by(ReportEvent.seq)
        .limit(1)
    )
    return at or report.submitted_at


def _load(report_id: int, expected_version: int | None) -> Report:
    report = get_report(report_id)
    if expected_version is not None and report.version != expected_version:
        raise ConcurrentUpdate(f"案件已被他人修改（当前版本 {report.version}），请刷新后再试")
    return report


def _note(note: str | None, required: bool, label: str) -> str | None:
    note = (note or "").strip() or None
    if required and not note:
        raise InvalidReport(f"「{label}」需要填写说明")
    if note and len(note) > MAX_NOTE:
        raise InvalidReport(f"说明太长（{len(note)} 字），请控制在 {MAX_NOTE} 字以内")
    return note


def _record(report: Report, action: str, actor: Actor, note: str | None, data: dict) -> ReportEvent:
    """Flush the case (its version moves, or the version check fails), then append the trail entry numbered by it."""
    try:
        db.session.flush()
    except StaleDataError as exc:
        db.session.rollback()
        raise ConcurrentUpdate("案件刚被他人修改，请刷新后再试") from exc
    entry = ReportEvent(
        report=report,
        seq=report.version,
        action=action,
        from_status=report.status,
        to_status=report.status,
        actor_kind=actor.kind,
        actor_id=actor.id,
        actor_name=actor.name,
        note=note,
        data=data,
    )
    db.session.add(entry)
    db.session.flush()
    return entry


def _alert(report: Report, entry: ReportEvent, kind: str, note: str | None = None) -> None:
    emit(
        StaffAlert(
            report_id=report.id,
            trail_event_id=entry.id,
            kind=kind,
            case_number=report.case_number,
            department_id=report.department_id,
            deadline_at=api_timestamp(report.deadline_at),
            note=note,
        )
    )


def _commit() -> None:
    try:
        db.session.commit()
    except (StaleDataError, IntegrityError) as exc:
        db.session.rollback()
        raise ConcurrentUpdate("案件刚被他人修改，请刷新后再试") from exc


def _check_role(actor: Actor, roles: frozenset[str], label: str) -> None:
    if actor.kind != "system" and actor.role not in roles:
        raise NotAllowed(f"角色 {actor.role or actor.kind} 不能执行「{label}」")


def recategorize(
    report_id: int, actor: Actor, category_code: str, note: str | None = None, expected_version: int | None = None
) -> Report:
    """Correct a case's category; a case with a deadline gets the new category's limit counted from registration."""
    _check_role(actor, RECATEGORIZE_ROLES, "更正类别")
    report = _load(report_id, expected_version)
    if report.status not in OPEN_STATUSES:
        raise InvalidTransition(f"案件当前状态为 {report.status}，不能更正类别")
    note = _note(note, False, "更正类别")
    code = (category_code or "").strip() if isinstance(category_code, str) else ""
    category = db.session.scalar(select(Category).where(Category.code == code, Category.active.is_(True)))
    if category is None or category.parent_id is None:
        raise UnknownCategory(f"未知或已停用的问题小类 {code!r}")
    if report.category_id == category.id:
        raise InvalidTransition(f"案件已是类别 {code}")
    old = report.category.code if report.category else None
    with db.session.no_autoflush:
        start = registered_at(report)
        report.category_id = category.id
        data: dict = {"from": old, "to": category.code}
        if report.deadline_at is not None:
            report.deadline_at, _ = case_deadline(report, start, category.time_limit_hours)
            report.warn_at = warn_time(start, report.deadline_at)
            report.overdue = report.deadline_at < utcnow() and report.overdue
            data["deadline_at"] = api_timestamp(report.deadline_at)
        report.updated_at = utcnow()
    _record(report, "recategorize", actor, note, data)
    _commit()
    return report


def parse_deadline(value) -> datetime | None:
    """An ISO 8601 instant with a zone ("2026-12-01T08:00:00Z"); None for empty; InvalidReport otherwise."""
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise InvalidReport("deadline 应为带时区的 ISO 8601 时间，如 2026-12-01T08:00:00Z")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidReport("deadline 应为带时区的 ISO 8601 时间，如 2026-12-01T08:00:00Z") from exc
    if parsed.tzinfo is None:
        raise InvalidReport("deadline 需要时区（如 Z 或 +08:00）")
    return parsed


def supervise(
    report_id: int,
    actor: Actor,
    note: str | None,
    deadline: datetime | None = None,
    expected_version: int | None = None,
) -> Report:
    """A formal 督办: a note, optionally a new deadline; the case is a 督办件 from now on; its department is told."""
    _check_role(actor, SUPERVISE_ROLES, "督办")
    report = _load(report_id, expected_version)
    if report.status not in SUPERVISE_STATUSES:
        raise InvalidTransition(f"案件当前状态为 {report.status}，不能督办")
    note = _note(note, True, "督办")
    now = utcnow()
    with db.session.no_autoflush:
        if deadline is not None:
            if report.status != "dispatched":
                raise InvalidReport("只有已派遣的案件可以设定新的处置时限")
            if not now < deadline <= now + timedelta(days=90):
                raise InvalidReport("新的处置时限应在现在之后 90 天以内")
            report.deadline_at = deadline
            report.warn_at = warn_time(now, deadline)
            report.overdue = False
        report.supervised = True
        report.updated_at = now
    entry = _record(report, "supervise", actor, note, {"deadline_at": api_timestamp(deadline) if deadline else None})
    _alert(report, entry, "supervise", note)
    _commit()
    SUPERVISION_STEPS.labels("supervise").inc()
    return report


def sweep_deadlines(now: datetime | None = None, batch: int = 500) -> tuple[int, int]:
    """Warn at DEADLINE_WARNING_SHARE of the time limit, escalate at the deadline: once per case and deadline.

    Returns (warnings, escalations). A case whose warning time and deadline have both passed by the time the sweep
    sees it gets the escalation only.
    """
    now = now or utcnow()
    counts = {"deadline_warning": 0, "deadline_escalation": 0}
    due = {
        "deadline_escalation": and_(
            Report.status == "dispatched",
            Report.deadline_at <= now,
            or_(Report.escalated_for.is_(None), Report.escalated_for != Report.deadline_at),
        ),
        "deadline_warning": and_(
            Report.status == "dispatched",
            Report.warn_at <= now,
            Report.deadline_at > now,
            or_(Report.warned_for.is_(None), Report.warned_for != Report.deadline_at),
        ),
    }
    for kind, condition in due.items():
        last = 0
        while True:
            ids = db.session.scalars(
                select(Report.id).where(condition, Report.id > last).order_by(Report.id).limit(batch)
            ).all()
            if not ids:
                break
            last = ids[-1]
            for report_id in ids:
                counts[kind] += _send_alert(report_id, kind, now)
    return counts["deadline_warning"], counts["deadline_escalation"]


def _send_alert(report_id: int, kind: str, now: datetime) -> int:
    """One case's warning or escalation, in its own transaction (a concurrent change of the case skips it)."""
    report = db.session.get(Report, report_id)
    deadline = report.deadline_at
    if kind == "deadline_escalation":
        report.escalated_for = deadline
        report.warned_for = deadline  # a warning after the deadline would say nothing new
        note = f"处置时限 {deadline:%Y-%m-%d %H:%M} UTC 已过，升级督办"
    else:
        report.warned_for = deadline
        note = (
            f"已用去处置时限的 {current_app.config['DEADLINE_WARNING_SHARE']:.0%}，时限 {deadline:%Y-%m-%d %H:%M} UTC"
        )
    try:
        entry = _record(report, kind, Actor.system(ALERT_LABELS[kind]), note, {"deadline_at": api_timestamp(deadline)})
        _alert(report, entry, kind, note)
        db.session.commit()
    except (ConcurrentUpdate, StaleDataError, IntegrityError):
        db.session.rollback()  # changed under us: the next sweep sees its new state
        return 0
    SUPERVISION_STEPS.labels(kind).inc()
    return 1
