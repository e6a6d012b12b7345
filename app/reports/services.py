"""Case use cases: submit, move through the loop, sweep for overdue cases. One transaction each."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import and_, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from app import geo
from app.citizens.services import Actor
from app.events import (
    ReportInvalidated,
    ReportOverdue,
    ReportStatusChanged,
    ReportSubmitted,
    ReportVerified,
    emit,
    utcnow,
)
from app.extensions import db
from app.moderation.screening import screen
from app.moderation.services import active_sanction
from app.reports.deadlines import case_deadline, warn_time
from app.reports.feedback import ask_return_visits
from app.reports.followers import add_follower
from app.reports.grids import find_grid, resolve_department
from app.reports.models import (
    CHANNELS,
    OPEN_STATUSES,
    CaseCounter,
    Category,
    Department,
    DuplicateCandidate,
    Report,
    ReportEvent,
    ReportPhoto,
)
from app.reports.workflow import (
    CANCEL_REASONS,
    ConcurrentUpdate,
    InvalidTransition,
    ReportError,
    check_step,
    note_visibility,
)


class InvalidReport(ReportError):
    """A submission we cannot accept as it is (the message says what to fix)."""

    code = "invalid_report"


class ReportsPaused(InvalidReport):
    """The citizen's reports are paused by moderation: nothing is filed (who decided it is never said)."""

    code = "reports_paused"


class OutsideServiceArea(ReportError):
    """The location is valid but not in the area this platform serves."""

    code = "outside_service_area"


class UnknownCategory(ReportError):
    """A category code that does not exist or is inactive."""

    code = "unknown_category"


class ReportNotFound(ReportError):
    """No case with that id or number."""

    code = "not_found"


@dataclass(frozen=True)
class PhotoInput:
    """A photo for a new case: already stored (sha256), still to be fetched (source_ref, status pending), or refused
    before any fetch (missing_reason: the case is kept, the photo recorded as not fetched)."""

    sha256: str | None = None
    source_ref: str | None = None
    width: int | None = None
    height: int | None = None
    missing_reason: str | None = None


@dataclass
class Submission:
    """What a channel hands to submit_report."""

    channel: str
    lat: float | None  # None with lng for an address-only request (needs_location): address is then required
    lng: float | None
    crs: str = "wgs84"
    description: str = ""
    category_code: str | None = None
    citizen_id: int | None = None
    address: str | None = None
    photos: list[PhotoInput] = field(default_factory=list)
    client_ref: str | None = None
    max_description: int | None = None  # a channel's own limit (Open311: 4,000); DESCRIPTION_MAX_CHARS otherwise
    contact_phone: str | None = None  # anonymous H5 reporters may leave one; staff only


def _local_today() -> datetime:
    return utcnow().astimezone(ZoneInfo(current_app.config.get("TIMEZONE", "Asia/Shanghai")))


def next_case_number() -> str:
    """JB + yymmdd + a per-day sequence of at least 4 digits, taken atomically (one upsert) from case_counters."""
    today = _local_today().date()
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(CaseCounter).values(day=today, last=1)
    stmt = stmt.on_conflict_do_update(index_elements=[CaseCounter.day], set_={"last": CaseCounter.last + 1})
    seq = db.session.execute(stmt.returning(CaseCounter.last)).scalar_one()
    return f"{current_app.config['CASE_NUMBER_PREFIX']}{today:%y%m%d}{seq:04d}"


def _validate(sub: Submission) -> tuple[float | None, float | None, float | None, float | None, Category | None]:
    if sub.channel not in CHANNELS:
        raise InvalidReport(f"未知渠道 {sub.channel!r}")
    if sub.lat is None and sub.lng is None:
        if not (sub.address or "").strip():
            raise InvalidReport("请提供位置：坐标或地址")
        return None, None, None, None, _validated_rest(sub)
    try:
        raw_lat, raw_lng = geo.parse_coordinates(sub.lat, sub.lng)
        crs = geo.normalize_crs(sub.crs)
    except (geo.InvalidCoordinates, geo.UnknownCRS) as exc:
        raise InvalidReport(str(exc)) from exc
    lat, lng = geo.to_wgs84(raw_lat, raw_lng, crs)
    area = current_app.extensions["service_area"]
    if not area.contains(lat, lng):
        raise OutsideServiceArea("这个位置不在本平台的服务范围内")
    return raw_lat, raw_lng, lat, lng, _validated_rest(sub)


def _validated_rest(sub: Submission) -> Category | None:
    """The description and the category (what every submission needs, with or without a point)."""
    description = (sub.description or "").strip()
    limit = sub.max_description or current_app.config["DESCRIPTION_MAX_CHARS"]
    if len(description) > limit:
        raise InvalidReport(f"问题描述太长（{len(description)} 字），请控制在 {limit} 字以内")
    if not description and not sub.photos:
        raise InvalidReport("请至少提供一张照片或一句问题描述")
    category = None
    if sub.category_code:
        category = db.session.scalar(
            select(Category).where(Category.code == sub.category_code, Category.active.is_(True))
        )
        if category is None:
            raise UnknownCategory(f"未知的问题类别 {sub.category_code!r}")
    sub.description = description
    return category


def check_submission(sub: Submission) -> None:
    """Raise what submit_report would refuse `sub` for, writing nothing (a channel checks before storing photos)."""
    _validate(dataclasses.replace(sub))


def find_duplicate_candidates(
    lat: float, lng: float, category: Category | None, exclude_id: int | None = None
) -> list[tuple[Report, float]]:
    """Open cases of the same class within DUPLICATE_RADIUS_M and DUPLICATE_WINDOW_DAYS, nearest first.

    A degree box on the (lat, lng) index narrows the search; the geodesic decides.
    """
    radius = current_app.config["DUPLICATE_RADIUS_M"]
    since = utcnow() - timedelta(days=current_app.config["DUPLICATE_WINDOW_DAYS"])
    minlat, minlng, maxlat, maxlng = geo.degree_box(lat, lng, radius)
    query = select(Report).where(
        Report.lat.between(minlat, maxlat),
        Report.lng.between(minlng, maxlng),
        Report.status.in_(OPEN_STATUSES),
        Report.submitted_at >= since,
    )
    if category is not None:
        class_id = category.parent_id or category.id  # by parent: a moved subclass keeps its code
        class_ids = select(Category.id).where((Category.id == class_id) | (Category.parent_id == class_id))
        query = query.where(Report.category_id.in_(class_ids))
    if exclude_id is not None:
        query = query.where(Report.id != exclude_id)
    out = []
    for report in db.session.scalars(query.limit(200)):
        d = geo.distance_m((lat, lng), (report.lat, report.lng))
        if d <= radius:
            out.append((report, d))
    return sorted(out, key=lambda rd: rd[1])


def _append_trail(
    report: Report,
    action: str,
    from_status: str | None,
    actor: Actor,
    note: str | None = None,
    data: dict | None = None,
    visibility: str | None = None,
) -> ReportEvent:
    entry = ReportEvent(
        report=report,
        seq=report.version,
        action=action,
        from_status=from_status,
        to_status=report.status,
        actor_kind=actor.kind,
        actor_id=actor.id,
        actor_name=actor.name,
        note=note,
        visibility=note_visibility(action, visibility),
        data=data or {},
    )
    db.session.add(entry)
    return entry


def submit_report(sub: Submission) -> Report:
    """Validate, route, link likely duplicates and record a new case with its ReportSubmitted event.

    A second submission with the same client_ref returns the first case unchanged (double submits, retries).
    """
    if sub.client_ref:
        existing = db.session.scalar(select(Report).where(Report.client_ref == sub.client_ref))
        if existing is not None:
            return existing
    if active_sanction(sub.citizen_id) is not None:
        raise ReportsPaused("您的举报功能已暂停，暂时无法受理新的举报。如有疑问，请拨打 12345 咨询。")
    raw_lat, raw_lng, lat, lng, category = _validate(sub)
    screening = screen(sub.description)  # flagged text waits for a moderator before it is public
    placed = lat is not None
    grid_id = find_grid(lat, lng) if placed else None
    report = Report(
        case_number=next_case_number(),
        client_ref=sub.client_ref,
        citizen_id=sub.citizen_id,
        category=category,
        description=sub.description,
        lat=lat,
        lng=lng,
        raw_lat=raw_lat,
        raw_lng=raw_lng,
        raw_crs=geo.normalize_crs(sub.crs),
        needs_location=not placed,
        address=(sub.address or None) and sub.address[:200],
        contact_phone=sub.contact_phone or None,
        grid_id=grid_id,
        department_id=resolve_department(category, grid_id),
        status="reported",
        channel=sub.channel,
        moderation="flagged" if screening.flagged else "clear",
        moderation_reasons=screening.reasons,
    )
    db.session.add(report)
    for p in sub.photos:
        report.photos.append(
            ReportPhoto(
                kind="report",
                sha256=p.sha256,
                source_ref=p.source_ref,
                width=p.width,
                height=p.height,
                status="stored" if p.sha256 else ("missing" if p.missing_reason else "pending"),
                missing_reason=p.missing_reason and p.missing_reason[:200],
            )
        )
    try:
        db.session.flush()  # on PostgreSQL a twin with the same client_ref that committed first fails us here
    except IntegrityError as exc:
        return _lost_race(sub, exc)
    duplicates = find_duplicate_candidates(lat, lng, category, exclude_id=report.id) if placed else []
    for other, distance in duplicates:
        db.session.add(DuplicateCandidate(report_id=report.id, candidate_id=other.id, distance_m=round(distance, 1)))
    actor = Actor(kind="citizen" if sub.citizen_id else sub.channel, id=sub.citizen_id, name=sub.channel)
    _append_trail(
        report,
        "submit",
        None,
        actor,
        data={"channel": sub.channel, "duplicate_candidates": [o.id for o, _ in duplicates]},
    )
    emit(
        ReportSubmitted(
            report_id=report.id,
            case_number=report.case_number,
            citizen_id=sub.citizen_id,
            channel=sub.channel,
            category_code=category.code if category else None,
            duplicate_candidate_ids=[o.id for o, _ in duplicates],
        )
    )
    try:
        db.session.commit()
    except IntegrityError as exc:
        return _lost_race(sub, exc)
    return report


def _lost_race(sub: Submission, exc: IntegrityError) -> Report:
    """Two identical submissions raced and the other one won: roll back and answer its case (else re-raise)."""
    db.session.rollback()
    if sub.client_ref:
        existing = db.session.scalar(select(Report).where(Report.client_ref == sub.client_ref))
        if existing is not None:
            return existing
    raise exc


def report_by_client_ref(client_ref: str) -> Report | None:
    """The case a channel already submitted under its own key, if any (a retried or replayed submission)."""
    return db.session.scalar(select(Report).where(Report.client_ref == client_ref))


def get_report(report_id: int | None = None, case_number: str | None = None) -> Report:
    """A case by id or case number."""
    report = None
    if report_id is not None:
        report = db.session.get(Report, report_id)
    elif case_number:
        report = db.session.scalar(select(Report).where(Report.case_number == case_number.strip().upper()))
    if report is None:
        raise ReportNotFound("没有找到这个案件")
    return report


def transition(
    report_id: int,
    action: str,
    actor: Actor,
    *,
    note: str | None = None,
    expected_version: int | None = None,
    department_code: str | None = None,
    cancel_reason: str | None = None,
    duplicate_of: int | None = None,
    photos: list[PhotoInput] | None = None,
    visibility: str | None = None,
) -> Report:
    """Take one step of the loop, append it to the trail and emit its events, in one transaction.

    Raises InvalidTransition (wrong state), NotAllowed (role or department), ConcurrentUpdate (someone else
    changed the case since `expected_version`, or in the same instant), InvalidReport (missing note, etc.).
    """
    report = get_report(report_id)
    if expected_version is not None and report.version != expected_version:
        raise ConcurrentUpdate(f"案件已被他人修改（当前版本 {report.version}），请刷新后再试")
    step = check_step(action, report.status, actor, report.department_id)
    visibility = note_visibility(action, visibility)
    note = (note or "").strip() or None
    if step.needs_note and not note and action != "cancel":
        raise InvalidReport(f"「{step.label}」需要填写说明")
    from_status, now, data = report.status, utcnow(), {}
    # One UPDATE per step: no autoflush half-way (a lazy load would flush and bump the version twice).
    with db.session.no_autoflush:
        if action == "cancel":
            if cancel_reason not in CANCEL_REASONS:
                raise InvalidReport("注销需要原因：" + "、".join(f"{k}（{v}）" for k, v in CANCEL_REASONS.items()))
            report.cancel_reason = cancel_reason
            data["reason"] = cancel_reason
        elif action == "mark_duplicate":
            original = db.session.get(Report, duplicate_of) if duplicate_of else None
            if original is None or original.id == report.id:
                raise InvalidReport("请指定被重复的原案件")
            if original.status == "cancelled":
                raise InvalidTransition("原案件已注销，不能合并到它")
            root = db.session.get(Report, original.duplicate_of_id) if original.duplicate_of_id else original
            if (root.submitted_at, root.id) > (report.submitted_at, report.id):
                # The first reporter earns the points: the root is always the earliest report of the problem.
                raise InvalidTransition(
                    f"不能把较早的案件合并到较晚的案件 {root.case_number}；请选择较早的案件作为主案件"
                    f"（把 {root.case_number} 合并到 {report.case_number}）"
                )
            report.duplicate_of_id = root.id  # always point at the root case
            report.cancel_reason = "duplicate"
            data["duplicate_of"] = report.duplicate_of_id
            add_follower(root, report.citizen_id, "duplicate")  # its reporter hears how the root case goes
        elif action == "dispatch":
            dept = (
                db.session.scalar(select(Department).where(Department.code == department_code))
                if department_code
                else report.department
            )
            if dept is None or not dept.active:
                raise InvalidReport("请选择有效的责任单位")
            if report.status == "dispatched" and dept.id == report.department_id:
                raise InvalidTransition(f"案件已派遣给 {dept.name}，改派请选择其他单位")
            data["from_department"] = report.department.code if report.department else None
            report.department_id = dept.id
            report.dispatched_at = now
            hours = (
                report.category.time_limit_hours if report.category else current_app.config["DEFAULT_TIME_LIMIT_HOURS"]
            )
            report.deadline_at, deadline_source = case_deadline(report, now, hours)
            report.warn_at = warn_time(now, report.deadline_at)
            report.overdue = False
            data.update(department=dept.code, deadline_at=report.deadline_at.isoformat())
            if deadline_source == "ticket":
                data["deadline_source"] = "ticket"
        elif action == "handle":
            for p in photos or []:
                report.photos.append(
                    ReportPhoto(
                        kind="handling",
                        sha256=p.sha256,
                        source_ref=p.source_ref,
                        width=p.width,
                        height=p.height,
                        status="stored" if p.sha256 else "pending",
                    )
                )
            data["photos"] = [p.sha256 for p in photos or [] if p.sha256]
        elif action == "reopen" and from_status == "closed":
            window = timedelta(days=current_app.config["REOPEN_WINDOW_DAYS"])
            if report.closed_at is None or now - report.closed_at > window:
                raise InvalidTransition(f"结案超过 {window.days} 天的案件不能重新打开")
            report.closed_at = None
        elif action == "invalidate":
            report.cancel_reason = "false"
        if action == "close":
            report.closed_at = now
        report.status = step.target
    _append_trail_after_bump(report, action, from_status, actor, note, data, visibility)
    public_note = note if visibility == "public" else None
    _emit_step_events(report, action, from_status, public_note)
    if action == "close":
        ask_return_visits(report, report.version, public_note)
    try:
        db.session.commit()
    except (StaleDataError, IntegrityError) as exc:
        db.session.rollback()
        raise ConcurrentUpdate("案件刚被他人修改，请刷新后再试") from exc
    return report


def add_comment(
    report_id: int, actor: Actor, note: str, expected_version: int | None = None, visibility: str | None = None
) -> ReportEvent:
    """Append a comment to a case's trail without changing its state (the version moves, as for any change).

    A comment is internal unless its writer makes it public (then the reporter and the public read it).
    """
    visibility = note_visibility("comment", visibility)
    report = get_report(report_id)
    if expected_version is not None and report.version != expected_version:
        raise ConcurrentUpdate(f"案件已被他人修改（当前版本 {report.version}），请刷新后再试")
    note = (note or "").strip()
    if not note:
        raise InvalidReport("请填写备注内容")
    if len(note) > 2000:
        raise InvalidReport(f"备注太长（{len(note)} 字），请控制在 2000 字以内")
    report.updated_at = utcnow()  # an UPDATE, so the version check applies and the entry gets its own seq
    _append_trail_after_bump(report, "comment", report.status, actor, note, {}, visibility)
    try:
        db.session.commit()
    except (StaleDataError, IntegrityError) as exc:
        db.session.rollback()
        raise ConcurrentUpdate("案件刚被他人修改，请刷新后再试") from exc
    return db.session.scalars(
        select(ReportEvent).where(ReportEvent.report_id == report_id).order_by(ReportEvent.seq.desc()).limit(1)
    ).one()


def _append_trail_after_bump(
    report: Report,
    action: str,
    from_status: str,
    actor: Actor,
    note: str | None,
    data: dict,
    visibility: str | None = None,
) -> None:
    """Flush the case first so its version is bumped (or the version check fails), then number the entry by it."""
    try:
        db.session.flush()
    except StaleDataError as exc:
        db.session.rollback()
        raise ConcurrentUpdate("案件刚被他人修改，请刷新后再试") from exc
    _append_trail(report, action, from_status, actor, note, data, visibility)


def _emit_step_events(report: Report, action: str, from_status: str, note: str | None) -> None:
    if report.status != from_status or action == "dispatch":
        emit(
            ReportStatusChanged(
                report_id=report.id,
                case_number=report.case_number,
                citizen_id=report.citizen_id,
                from_status=from_status,
                to_status=report.status,
                action=action,
                note=note,
                seq=report.version,
            )
        )
    if action == "verify":
        category = report.category.code if report.category else None
        emit(ReportVerified(report_id=report.id, citizen_id=report.citizen_id, category=category, duplicate_of=None))
        # Citizens who reported the same problem (merged as duplicates) helped too: they earn the duplicate rate,
        # once each; a citizen's duplicate of their own case earns nothing more.
        rewarded = {report.citizen_id}
        for dup in db.session.scalars(
            select(Report).where(Report.duplicate_of_id == report.id).order_by(Report.submitted_at, Report.id)
        ):
            if dup.citizen_id is not None and dup.citizen_id in rewarded:
                continue
            rewarded.add(dup.citizen_id)
            emit(ReportVerified(report_id=dup.id, citizen_id=dup.citizen_id, category=category, duplicate_of=report.id))
    if action == "invalidate":
        emit(ReportInvalidated(report_id=report.id, citizen_id=report.citizen_id, reason=note or "false"))


def sweep_overdue(now: datetime | None = None, batch: int = 500) -> int:
    """Mark dispatched cases past their deadline as overdue (督办), once each; returns how many were marked."""
    now = now or utcnow()
    marked = 0
    while True:
        ids = db.session.scalars(
            select(Report.id)
            .where(and_(Report.status == "dispatched", Report.deadline_at < now, Report.overdue.is_(False)))
            .order_by(Report.id)
            .limit(batch)
        ).all()
        if not ids:
            break
        for report in db.session.scalars(select(Report).where(Report.id.in_(ids))):
            report.overdue = True
            db.session.flush()
            _append_trail(
                report,
                "overdue",
                report.status,
                Actor.system("超期督办"),
                note=f"处置时限 {report.deadline_at:%Y-%m-%d %H:%M} UTC 已过",
            )
            emit(
                ReportOverdue(
                    report_id=report.id,
                    case_number=report.case_number,
                    department_id=report.department_id,
                    deadline_at=report.deadline_at.isoformat(),
                )
            )
            marked += 1
        try:
            db.session.commit()
        except StaleDataError:
            db.session.rollback()  # a case changed under us; the next loop sees its new state
    return marked


def counts_by_status() -> dict[str, int]:
    """How many cases are in each state."""
    return dict(db.session.execute(select(Report.status, func.count()).group_by(Report.status)).all())


def attach_photo(photo_id: int, sha256: str, width: int | None, height: int | None) -> bool:
    """A pending photo's bytes arrived and were stored: mark it stored (False when it was not pending)."""
    photo = db.session.get(ReportPhoto, photo_id)
    if photo is None or photo.status != "pending":
        return False
    photo.sha256, photo.width, photo.height, photo.status = sha256, width, height, "stored"
    photo.missing_reason = None
    db.session.commit()
    return True


def mark_photo_missing(photo_id: int, reason: str) -> bool:
    """A pending photo could not be fetched (expired, refused): mark it missing with the reason; the case goes on."""
    photo = db.session.get(ReportPhoto, photo_id)
    if photo is None or photo.status != "pending":
        return False
    photo.status, photo.missing_reason = "missing", reason[:200]
    db.session.commit()
    return True
