"""Month-start snapshots of the rollup (table case_facts_at): a case's facts as of the start of a local month.

The assessment of a finished month needs each case's facts *as of the month's end*. A case with no trail entry since
then has them in case_facts; the others (every case touched since: handled late, closed, visited …; ~15,000 of a
month's 85,000 a few days later) were aggregated from their trail on every computation. Instead, when a case gets its
first trail entry of a new month, the flush hook aggregates its entries before that month's start once, in the same
transaction, into a row here: (month_end = that local month start, report_id) with the same fact columns.

Exactness: a row is aggregated from the trail when it is written, so it is right then; it stays right because trail
entries are appended with the current time. Should an entry be written with an earlier time than the case's newest
(imports, tests), or an entry be changed or deleted, the case's snapshots after that time are deleted: the
assessment then aggregates that case's trail as before (assessment_facts.period_facts uses a snapshot only when one
exists for exactly the period's end). `differences` checks every row against the trail (after every test).
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context
from sqlalchemy import ForeignKey, delete, insert, literal, select
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import UTCDateTime, db
from app.reports.facts_columns import FACT_NAMES, TrailFacts, fact_columns, trail_table

SNAPSHOT_NAMES = ["month_end", "report_id", *FACT_NAMES, "n_departments"]
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)  # "every snapshot of the case may be stale"


class CaseFactsAt(TrailFacts, db.Model):
    """A case's trail facts as of `month_end` (a local month's start, in UTC); written by the flush hook only."""

    __tablename__ = "case_facts_at"

    month_end: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), primary_key=True, autoincrement=False)


def _tz() -> ZoneInfo:
    return ZoneInfo(current_app.config.get("TIMEZONE", "Asia/Shanghai") if has_app_context() else "Asia/Shanghai")


def month_start(at: datetime) -> datetime:
    """The start (in UTC) of the local month `at` falls in: the boundaries periods.month() uses."""
    tz = _tz()
    local = at.astimezone(tz)
    return datetime(local.year, local.month, 1, tzinfo=tz).astimezone(UTC)


def is_month_start(at: datetime) -> bool:
    return month_start(at) == at


def snapshot_statement(month_end: datetime, report_ids=None):
    """INSERT … SELECT of the facts as of `month_end` of the cases `report_ids` (a list or a subquery) that have
    entries before it."""
    ev = trail_table()
    q = (
        select(literal(month_end, UTCDateTime).label("month_end"), ev.c.report_id, *fact_columns(ev))
        .where(ev.c.created_at < month_end)
        .group_by(ev.c.report_id)
    )
    if report_ids is not None:
        q = q.where(ev.c.report_id.in_(report_ids))
    return insert(CaseFactsAt.__table__).from_select(SNAPSHOT_NAMES, q)


def keep(connection, old_last: dict, new_last: dict, earliest: dict) -> None:
    """After the rollup rows of some cases were rewritten: drop the snapshots an out-of-order entry made stale, and
    write the snapshot of each case whose entries now reach into a month its old row did not.
    `old_last`/`new_last`: report id → last_event_at before/after (absent: no row); `earliest`: report id → the
    earliest time of the flush's new entries (EARLIEST for changed or deleted ones)."""
    at = CaseFactsAt.__table__
    stale = {rid: t for rid, t in earliest.items() if rid in old_last and t < old_last[rid]}
    for rid, t in stale.items():
        connection.execute(delete(at).where(at.c.report_id == rid, at.c.month_end > t))
    crossing: dict[datetime, list[int]] = {}
    for rid, last in new_last.items():
        boundary = month_start(last)
        old = old_last.get(rid)
        if old is None:  # a new row: all its entries are this flush's; entries before the boundary, if any, are new
            before = earliest.get(rid, EARLIEST) < boundary
        else:  # (a stale case's snapshot at its newest month was just deleted, or never written: write it again)
            before = old < boundary or stale.get(rid, boundary) < boundary
        if before:
            crossing.setdefault(boundary, []).append(rid)
    for boundary, ids in crossing.items():
        connection.execute(delete(at).where(at.c.month_end == boundary, at.c.report_id.in_(ids)))
        connection.execute(snapshot_statement(boundary, ids))


def snapshot_month(connection, month_end: datetime) -> None:
    """Every case's snapshot at `month_end` (cases with entries on both sides of it), after a bulk load that bypassed
    the session (bench/); the hook writes them from then on."""
    at, cf = CaseFactsAt.__table__, db.metadata.tables["case_facts"]
    later = select(cf.c.report_id).where(cf.c.last_event_at >= month_end)
    connection.execute(delete(at).where(at.c.month_end == month_end))
    connection.execute(snapshot_statement(month_end, later))


def differences(connection) -> list[int]:
    """Ids of the cases with a snapshot that differs from their trail's aggregation as of its month_end."""
    at = CaseFactsAt.__table__
    stored = {(r[0], r[1]): tuple(r[2:]) for r in connection.execute(select(*(at.c[n] for n in SNAPSHOT_NAMES)))}
    bad = set()
    ev = trail_table()
    for month_end in {k[0] for k in stored}:
        ids = [rid for m, rid in stored if m == month_end]
        q = (select(ev.c.report_id, *fact_columns(ev)).where(ev.c.created_at < month_end, ev.c.report_id.in_(ids))
             .group_by(ev.c.report_id))
        fresh = {r[0]: tuple(r[1:]) for r in connection.execute(q)}
        bad.update(rid for rid in ids if fresh.get(rid) != stored[(month_end, rid)])
    return sorted(bad)


__all__ = ["CaseFactsAt", "differences", "is_month_start", "keep", "month_start", "snapshot_month",
           "snapshot_statement"]
