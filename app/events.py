"""Domain events, the transactional outbox, the relay to rq, and the one table of who subscribes to what.

A use case calls `emit(SomeEvent(...))` before it commits: the event becomes an `outbox_events` row in the same
transaction as the change it describes, so the two are written together or not at all. After the commit the relay
enqueues one rq job per subscriber and marks the row relayed; when Redis is down the row stays unrelayed and
`sweep_outbox` (periodic, `flask events sweep`) relays it later. A subscriber runs at most once per event: the job
records (event, handler) in `processed_events` in the same transaction as the handler's own changes.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, event, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column
from werkzeug.utils import import_string

from app.extensions import UTCDateTime, db
from app.jobs import app_job, enqueue
from app.observability import register_gauge

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    """Timezone-aware now in UTC (callable default for timestamps)."""
    return datetime.now(UTC)


# ---------------------------------------------------------------------------------------------- the events


@dataclasses.dataclass(frozen=True)
class ReportSubmitted:
    """A citizen, the hotline, Open311 or a console user submitted a case."""

    report_id: int
    case_number: str
    citizen_id: int | None
    channel: str
    category_code: str | None
    duplicate_candidate_ids: list[int] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class ReportStatusChanged:
    """A case moved from one state to another (the citizen is told)."""

    report_id: int
    case_number: str
    citizen_id: int | None
    from_status: str
    to_status: str
    action: str
    note: str | None = None
    # The trail entry of the change (notifications are deduplicated per entry) and a citizen who knows already
    # (the one whose answer caused it). Defaults keep events written before these fields readable.
    seq: int | None = None
    told_citizen_id: int | None = None


@dataclasses.dataclass(frozen=True)
class ReturnVisitAsked:
    """A closed case asks its reporter or a follower whether the problem is solved (回访); the bot sends it."""

    visit_id: int
    report_id: int
    case_number: str
    citizen_id: int
    role: str
    note: str | None = None


@dataclasses.dataclass(frozen=True)
class ReportVerified:
    """A case was verified valid: its reporter earns points (duplicates of it earn the duplicate rate)."""

    report_id: int
    citizen_id: int | None
    category: str | None
    duplicate_of: int | None


@dataclasses.dataclass(frozen=True)
class ReportInvalidated:
    """A verified or closed case was later found false: any points it earned are reversed."""

    report_id: int
    citizen_id: int | None
    reason: str


@dataclasses.dataclass(frozen=True)
class ReportOverdue:
    """A dispatched case passed its handling deadline (督办)."""

    report_id: int
    case_number: str
    department_id: int | None
    deadline_at: str


@dataclasses.dataclass(frozen=True)
class PointsAwarded:
    """A citizen earned points for a case (emitted by app.points; the bot tells them the amount and balance)."""

    citizen_id: int
    report_id: int | None
    amount: int
    balance: int


@dataclasses.dataclass(frozen=True)
class StaffAlert:
    """A 督办 step on a case's trail (deadline_warning | deadline_escalation | supervise): staff are told."""

    report_id: int
    trail_event_id: int
    kind: str
    case_number: str
    department_id: int | None
    deadline_at: str | None = None
    note: str | None = None


@dataclasses.dataclass(frozen=True)
class StaffNotified:
    """A staff inbox entry was written for someone who bound WeChat: the bot sends the template message."""

    notification_id: int


EVENT_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        ReportSubmitted,
        ReportStatusChanged,
        ReportVerified,
        ReportInvalidated,
        ReportOverdue,
        PointsAwarded,
        StaffAlert,
        StaffNotified,
        ReturnVisitAsked,
    )
}


def register_event_type(cls: type) -> type:
    """Class decorator for events defined in other packages (they still subscribe through SUBSCRIPTIONS below)."""
    EVENT_TYPES[cls.__name__] = cls
    return cls


# Who reacts to what: dotted paths so that domains never import each other. The whole flow, in one place.
SUBSCRIPTIONS: dict[str, list[str]] = {
    "ReportSubmitted": [],
    # Handler names must differ in their last part: it is the rq job id's suffix (app.events._job_id).
    "ReportStatusChanged": [
        "app.bot.notify.on_report_status_changed",
        "app.reports.callbacks.on_ticket_case_changed",
        "app.bot.mp_subscribe.on_case_step",
    ],
    "ReportVerified": ["app.points.services.award_points_for"],
    "ReportInvalidated": ["app.points.services.reverse_points_for"],
    "ReportOverdue": [],
    "PointsAwarded": ["app.bot.notify.on_points_awarded"],
    # 督办 (docs/console.md): the console inbox first; WeChat template messages to staff who bound their account.
    "StaffAlert": ["app.citizens.inbox.on_staff_alert"],
    "StaffNotified": ["app.bot.staff_notify.on_staff_notified"],
    "ReturnVisitAsked": ["app.bot.notify.on_return_visit_asked"],
}


# ---------------------------------------------------------------------------------------------- the tables


class OutboxEvent(db.Model):
    """An event written in the same transaction as the change it describes."""

    __tablename__ = "outbox_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    relayed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # Set by the sweep once every subscriber has a processed_events row; until then a relayed event whose jobs
    # vanished (Redis restarted without AOF, a job gave up) is enqueued again for the subscribers still missing.
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    relay_attempts: Mapped[int] = mapped_column(Integer, default=0)


class ProcessedEvent(db.Model):
    """(event, handler) pairs already handled: a relayed event run twice has one effect."""

    __tablename__ = "processed_events"

    event_id: Mapped[int] = mapped_column(ForeignKey("outbox_events.id"), primary_key=True)
    handler: Mapped[str] = mapped_column(String(200), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# ---------------------------------------------------------------------------------------------- emit & relay


def emit(evt: Any) -> OutboxEvent:
    """Add `evt` to the current transaction's outbox (the caller commits)."""
    if type(evt).__name__ not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type(evt).__name__}; register it in app/events.py")
    name = type(evt).__name__
    row = OutboxEvent(name=name, payload=dataclasses.asdict(evt))
    if not SUBSCRIPTIONS.get(name):
        row.relayed_at = row.completed_at = utcnow()  # nobody listens: nothing to relay or to wait for
    db.session.add(row)
    return row


@event.listens_for(Session, "after_flush")
def _collect_outbox(session: Session, flush_context) -> None:
    """Remember the outbox rows this transaction wrote (ids exist only after the flush)."""
    for obj in session.new:
        if isinstance(obj, OutboxEvent) and obj.relayed_at is None:
            session.info.setdefault("outbox_pending", []).append((obj.id, obj.name))


@event.listens_for(Session, "after_rollback")
def _forget_outbox(session: Session) -> None:
    """A rolled-back transaction has no events to relay."""
    session.info.pop("outbox_pending", None)


@event.listens_for(Session, "after_commit")
def _relay_after_commit(session: Session) -> None:
    """Relay what the committed transaction emitted; failures are left for the sweep."""
    pending = session.info.pop("outbox_pending", None)
    if pending:
        relay(pending)


def relay(rows: list[tuple[int, str]]) -> int:
    """Enqueue one job per (event, subscriber) and mark the events relayed; returns how many were relayed."""
    done: list[int] = []
    try:
        for event_id, name in rows:
            for handler in SUBSCRIPTIONS.get(name, []):
                enqueue(run_subscriber, event_id, handler, job_id=_job_id(event_id, handler))
            done.append(event_id)
    except Exception as exc:  # Redis down or refusing: the sweep relays these rows later.
        log.warning("outbox relay stopped after %d of %d events: %s", len(done), len(rows), exc)
    relayed = set(done)
    failed = [event_id for event_id, _ in rows if event_id not in relayed]
    # A separate short transaction: the use case's own transaction has already committed.
    with db.engine.begin() as conn:
        if done:
            conn.execute(update(OutboxEvent).where(OutboxEvent.id.in_(done)).values(relayed_at=utcnow()))
        if failed:
            conn.execute(
                update(OutboxEvent)
                .where(OutboxEvent.id.in_(failed))
                .values(relay_attempts=OutboxEvent.relay_attempts + 1)
            )
    return len(done)


def sweep_outbox(grace_s: int = 30, limit: int = 1000) -> int:
    """Relay events left unrelayed for longer than `grace_s` seconds (Redis was down, the process died)."""
    cutoff = utcnow() - timedelta(seconds=grace_s)
    rows = db.session.execute(
        select(OutboxEvent.id, OutboxEvent.name)
        .where(OutboxEvent.relayed_at.is_(None), OutboxEvent.created_at <= cutoff)
        .order_by(OutboxEvent.id)
        .limit(limit)
    ).all()
    db.session.rollback()  # end the read transaction before relaying
    return relay([(r.id, r.name) for r in rows]) if rows else 0


def recover_stalled(stall_s: int = 300, max_age_days: int = 7, limit: int = 1000) -> tuple[int, int]:
    """Finish the bookkeeping of relayed events and re-enqueue subscribers whose jobs never ran.

    A relayed event is complete when every subscriber has a processed_events row. One that is not complete
    `stall_s` seconds after its relay lost its job somewhere (Redis restarted without AOF, the job exhausted its
    retries): its missing subscribers are enqueued again (a job still queued or running is not duplicated).
    Returns (completed, re-enqueued).
    """
    now = utcnow()
    rows = db.session.execute(
        select(OutboxEvent.id, OutboxEvent.name, OutboxEvent.relayed_at)
        .where(
            OutboxEvent.completed_at.is_(None),
            OutboxEvent.relayed_at.isnot(None),
            OutboxEvent.created_at >= now - timedelta(days=max_age_days),
        )
        .order_by(OutboxEvent.id)
        .limit(limit)
    ).all()
    if not rows:
        db.session.rollback()
        return 0, 0
    processed: dict[int, set[str]] = {}
    for event_id, handler in db.session.execute(
        select(ProcessedEvent.event_id, ProcessedEvent.handler).where(ProcessedEvent.event_id.in_([r.id for r in rows]))
    ):
        processed.setdefault(event_id, set()).add(handler)
    db.session.rollback()
    complete, requeued = [], 0
    for row in rows:
        missing = [h for h in SUBSCRIPTIONS.get(row.name, []) if h not in processed.get(row.id, set())]
        if not missing:
            complete.append(row.id)
        elif row.relayed_at <= now - timedelta(seconds=stall_s):
            for handler in missing:
                enqueue(run_subscriber, row.id, handler, job_id=_job_id(row.id, handler))
                requeued += 1
    if complete:
        with db.engine.begin() as conn:
            conn.execute(update(OutboxEvent).where(OutboxEvent.id.in_(complete)).values(completed_at=now))
    return len(complete), requeued


def _job_id(event_id: int, handler: str) -> str:
    return f"evt-{event_id}-{handler.rsplit('.', 1)[-1]}"


def outbox_backlog() -> int:
    """How many events wait to be relayed (a metric and a readiness hint)."""
    return db.session.scalar(select(db.func.count()).select_from(OutboxEvent).where(OutboxEvent.relayed_at.is_(None)))


register_gauge("baixing_outbox_backlog", "Outbox events not yet relayed", outbox_backlog)


@app_job
def run_subscriber(event_id: int, handler_path: str) -> str:
    """Run one subscriber for one event, at most once, in one transaction with the marker."""
    row = db.session.get(OutboxEvent, event_id)
    if row is None:
        return "missing"
    if db.session.get(ProcessedEvent, (event_id, handler_path)) is not None:
        return "already"
    db.session.add(ProcessedEvent(event_id=event_id, handler=handler_path))
    try:
        db.session.flush()  # a concurrent run of the same pair waits here and then fails on the primary key
    except IntegrityError:
        db.session.rollback()
        return "already"
    handler = import_string(handler_path)
    handler(EVENT_TYPES[row.name](**row.payload))
    db.session.commit()
    return "done"
