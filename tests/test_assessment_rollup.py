"""The per-case facts rollup (case_facts): kept current in the trail's own transaction, and the assessment computed
from rollup + trail equals the assessment computed from the trail alone, on randomised cases and periods.

(tests/conftest.py also checks, after every test of the suite, that case_facts equals the trail's aggregation: every
use case that writes trail entries is covered wherever it is tested.)
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import case, delete, event, func, insert, select, text

from app.extensions import db
from app.reports import assessment, assessment_areas, assessment_departments
from app.reports.assessment_facts import trail_facts
from app.reports.case_facts import SATISFIED, CaseFacts, differences, rebuild
from app.reports.models import Report, ReportEvent
from app.reports.month_facts import CaseFactsAt
from app.reports.periods import Period, month
from app.reports.queries import scoped
from app.reports.services import transition
from app.reports.supervision import supervise
from tests.assessment_example import build_example, make_case
from tests.factories import actor, report

UTC_FMT = "%Y-%m-%dT%H:%MZ"


def test_a_case_s_row_follows_its_trail_step_by_step_in_the_same_transaction(app):
    r = report("井盖破损")
    row = db.session.get(CaseFacts, r.id)
    assert row is not None and row.n_dispatch == 0 and row.first_register is None
    transition(r.id, "register", actor("dispatcher"))
    transition(r.id, "dispatch", actor("dispatcher"), department_code="JB-S-GYQ")
    supervise(r.id, actor("supervisor"), "请加快处置")
    transition(r.id, "handle", actor("handler", "JB-S-GYQ"), note="已修复")
    db.session.expire_all()
    row = db.session.get(CaseFacts, r.id)
    entries = db.session.scalars(select(ReportEvent).where(ReportEvent.report_id == r.id)).all()
    by_action = {e.action: e.created_at for e in entries}
    assert (row.n_dispatch, row.n_supervise, row.n_rework, row.n_departments) == (1, 1, 0, 1)
    assert row.first_register == by_action["register"] and row.last_handle == by_action["handle"]
    assert row.last_event_at == max(e.created_at for e in entries)
    assert differences(db.session.connection()) == []


def test_a_case_s_first_entry_of_a_month_snapshots_its_facts_at_that_month_s_start(app):
    """Entries appended in time order, one flush each, across November and December (Asia/Shanghai): the first
    entry of each month writes the case's facts as of that month's start; an entry written later with an earlier time
    (an import) drops the snapshots it makes stale and rewrites the newest one."""
    r = report("井盖破损")
    seq = 10

    def entry(action, when, **data):
        nonlocal seq
        seq += 1
        db.session.add(ReportEvent(report_id=r.id, seq=seq, action=action, to_status="x", actor_kind="staff",
                                   actor_name="x", data=data, created_at=datetime.fromisoformat(when)))
        db.session.commit()

    first = db.session.scalar(select(ReportEvent).where(ReportEvent.report_id == r.id))
    first.created_at = datetime(2026, 10, 20, tzinfo=UTC)
    db.session.commit()
    entry("register", "2026-10-20T02:00+00:00")
    entry("dispatch", "2026-10-31T15:00+00:00", department="JB-HWS")  # 23:00 on 31 October in Shanghai
    entry("handle", "2026-10-31T16:30+00:00")  # 00:30 on 1 November: the first entry of November
    entry("close", "2026-11-20T00:00+00:00")
    entry("feedback", "2026-12-02T00:00+00:00", rating="satisfied")  # the first of December
    snaps = {s.month_end: s for s in db.session.scalars(select(CaseFactsAt).where(CaseFactsAt.report_id == r.id))}
    nov, dec = month(2026, 11).start, month(2026, 11).end
    assert set(snaps) == {nov, dec}
    assert (snaps[nov].n_dispatch, snaps[nov].last_handle, snaps[nov].last_close) == (1, None, None)
    assert snaps[dec].last_handle == datetime(2026, 10, 31, 16, 30, tzinfo=UTC) and snaps[dec].last_close is not None
    entry("send_back", "2026-10-25T00:00+00:00")  # written now, dated October: both snapshots are stale
    snaps = {s.month_end: s for s in db.session.scalars(select(CaseFactsAt).where(CaseFactsAt.report_id == r.id))}
    assert set(snaps) == {dec} and snaps[dec].n_rework == 1  # November's dropped, December's written again
    assert differences(db.session.connection()) == []


def test_a_new_case_and_its_steps_within_a_month_cost_no_snapshot_statement(app):
    """Snapshots are written only when a case's entries reach into a new month: a submission and the same month's
    steps send no statement to case_facts_at (the hot path keeps its statement count)."""
    sent = []

    def seen(conn, cursor, statement, *args):
        sent.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        r = report("井盖破损")
        transition(r.id, "register", actor("dispatcher"))
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert any("case_facts" in s for s in sent) and not any("case_facts_at" in s for s in sent)


def test_a_rolled_back_step_leaves_no_row_change(app):
    r = report("井盖破损")
    transition(r.id, "register", actor("dispatcher"))
    before = db.session.get(CaseFacts, r.id).first_dispatch
    db.session.add(ReportEvent(report_id=r.id, seq=99, action="dispatch", to_status="dispatched",
                               actor_kind="staff", actor_name="x", data={"department": "JB-HWS"}))
    db.session.flush()
    assert db.session.get(CaseFacts, r.id).n_dispatch == 1  # in the transaction …
    db.session.rollback()
    db.session.expire_all()
    assert db.session.get(CaseFacts, r.id).first_dispatch == before  # … and gone with it
    assert db.session.get(CaseFacts, r.id).n_dispatch == 0


def test_a_case_column_changed_without_a_trail_entry_is_copied_into_its_row_in_the_same_flush(app):
    """The row carries the case's columns the assessment selects by (department, deadline, grid, channel …): an
    edit of the case alone (no trail entry) refreshes it too, and differences() would see a stale copy."""
    from app.reports.models import Department, GridCell, Report

    r = report("井盖破损")
    db.session.commit()
    case = db.session.get(Report, r.id)
    grid = db.session.scalars(select(GridCell).where(GridCell.id != case.grid_id)).first()
    dept = db.session.scalars(select(Department)).first()
    case.grid_id, case.department_id, case.channel = grid.id, dept.id, "hotline"
    case.deadline_at = datetime(2026, 12, 24, 8, 0, tzinfo=UTC)
    db.session.flush()
    row = db.session.get(CaseFacts, r.id)
    db.session.refresh(row)
    assert (row.grid_id, row.department_id, row.channel, row.deadline_at) == (
        grid.id, dept.id, "hotline", datetime(2026, 12, 24, 8, 0, tzinfo=UTC))
    assert differences(db.session.connection()) == []
    db.session.execute(CaseFacts.__table__.update().where(CaseFacts.report_id == r.id).values(channel="wechat"))
    assert differences(db.session.connection()) == [r.id]  # a stale copy is seen …
    db.session.rollback()


def test_differences_sees_a_trail_written_around_the_session_and_rebuild_repairs_it(app):
    r = report("井盖破损")
    db.session.commit()
    db.session.execute(insert(ReportEvent.__table__).values(
        report_id=r.id, seq=50, action="handle", to_status="handled", actor_kind="staff", actor_name="x",
        visibility="internal", data={}, created_at=datetime(2026, 11, 3, 1, 0, tzinfo=UTC)))
    assert differences(db.session.connection()) == [r.id]
    rebuild(db.session.connection())
    db.session.commit()
    assert differences(db.session.connection()) == []


ACTIONS = ["register", "dispatch", "dispatch", "handle", "handle", "send_back", "unresolved", "reopen", "close",
           "close", "verify", "supervise", "overdue", "feedback", "cancel", "mark_duplicate", "invalidate"]
STATUSES = ["dispatched", "handled", "closed", "cancelled", "unresolved", "registered", "verified"]
DEPTS = ["JB-HWS", "JB-S-GYQ", None]


def random_cases(rnd: random.Random, n: int) -> None:
    """Cases whose trails straddle October–December 2026, with random deadlines, statuses and departments."""
    base = datetime(2026, 10, 15)
    for i in range(n):
        t = base + timedelta(minutes=rnd.randrange(0, 70 * 1440))
        submitted = t.strftime(UTC_FMT)
        steps = []
        for _ in range(rnd.randrange(0, 9)):
            t += timedelta(minutes=rnd.choice([5, 30, 600, 2000, 6000, rnd.randrange(1, 20000)]))
            action = rnd.choice(ACTIONS)
            data = {}
            if action == "dispatch":
                data = {"department": rnd.choice(["JB-HWS", "JB-S-GYQ", "JB-CGJ"])}
            elif action == "feedback":
                data = {"rating": rnd.choice(["satisfied", "basically_satisfied", "dissatisfied"]), "resolved": True}
            steps.append((action, t.strftime(UTC_FMT), data))
        deadline = (base + timedelta(minutes=rnd.randrange(0, 80 * 1440))).strftime(UTC_FMT) \
            if rnd.random() < 0.85 else None
        make_case(f"R{i}", rnd.choice(DEPTS), submitted, steps, rnd.choice(STATUSES), deadline=deadline,
                  channel=rnd.choice(["wechat", "hotline", "open311"]))


def visits_from_trail(period, actor):
    """The reference for a period's return visits: its feedback entries joined to their case's department."""
    ev = ReportEvent
    rating = ev.data["rating"].as_string()
    q = (
        scoped(select(Report.department_id), actor)
        .add_columns(func.count(), func.sum(case((rating.in_(SATISFIED), 1), else_=0)))
        .join(ev, ev.report_id == Report.id)
        .where(ev.action == "feedback", ev.created_at >= period.start, ev.created_at < period.end)
        .where(Report.department_id.is_not(None))
        .group_by(Report.department_id)
    )
    return {dept: (int(total), int(ok or 0)) for dept, total, ok in db.session.execute(q)}


def from_trail_only(monkeypatch):
    """Make the assessment aggregate the trail alone (the reference), as before the rollup existed."""
    monkeypatch.setattr(assessment_departments, "period_facts", trail_facts)
    monkeypatch.setattr(assessment_areas, "period_facts", trail_facts)
    monkeypatch.setattr(assessment_departments, "_return_visits", visits_from_trail)


PERIODS = [
    month(2026, 10), month(2026, 11), month(2026, 12),
    Period("custom", date(2026, 11, 10), date(2026, 11, 20)),
    Period("day", date(2026, 11, 17), date(2026, 11, 17)),
    Period("custom", date(2026, 10, 1), date(2027, 1, 31)),
]


@pytest.mark.parametrize("seed", [1, 2])
def test_rollup_plus_trail_equals_the_trail_alone_on_random_cases_and_periods(app, monkeypatch, seed):
    rnd = random.Random(seed)
    random_cases(rnd, 45)
    build_example()
    assert differences(db.session.connection()) == []
    # Two cases touched since November lose their snapshot at its end (as an out-of-order entry would drop it):
    # November's answer then reads the snapshots of the others and these two cases' trails.
    at_end = CaseFactsAt.month_end == month(2026, 11).end
    snapshots = db.session.scalar(select(func.count()).select_from(CaseFactsAt).where(at_end))
    dropped = db.session.scalars(select(CaseFactsAt.report_id).where(at_end).limit(2)).all()
    db.session.execute(delete(CaseFactsAt).where(at_end, CaseFactsAt.report_id.in_(dropped)))
    who = [actor("admin"), actor("handler", "JB-HWS")]
    got = {(p, by, a.role): assessment._compute(p, by, a)
           for p in PERIODS for by in ("department", "grid", "channel") for a in who}
    headlines = {(p, a.role): assessment._summary(p, a) for p in PERIODS for a in who}
    for (p, role), head in headlines.items():  # the headline's one pass gives what the area rows and centre give
        by_channel = got[(p, "channel", role)]
        for k in ("reported", "registered", "closed", "closed_on_time"):
            assert head["totals"][k] == sum(r[k] for r in by_channel["rows"]), (p, role, k)
        assert head["centre"] == by_channel["centre"] and head["departments"] == got[(p, "department", role)]["rows"]
    some_rows = sum(len(v["rows"]) for v in got.values())
    later = db.session.scalar(select(db.func.count()).select_from(CaseFacts).where(
        CaseFacts.last_event_at >= month(2026, 11).end))
    assert some_rows > 40 and later > 5  # both branches (rolled-up rows and trail-computed ones) are exercised
    assert snapshots > 5  # November's cases touched in December have their facts at its end in a snapshot
    visits = db.session.execute(select(CaseFacts.n_visits, func.count()).group_by(CaseFacts.n_visits)).all()
    assert {n for n, _ in visits} >= {0, 1, 2}  # return visits: cases with none, one, and more than one
    from_trail_only(monkeypatch)
    for (p, by, role), answer in got.items():
        assert answer == assessment._compute(p, by, next(a for a in who if a.role == role)), (p, by, role)
    for (p, role), answer in headlines.items():
        assert answer == assessment._summary(p, next(a for a in who if a.role == role)), (p, "summary", role)


def _plan_nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _plan_nodes(child)


def test_the_by_department_pass_reads_rollup_snapshots_and_trail_as_one_flat_union(app):
    """On PostgreSQL the rollup rows, the snapshot rows and the trail's aggregations are one Append: the branches'
    columns have the same types (count() cast to the rollup's integer), so the planner does not cast the rollup's rows
    in a projection over each step of the union (docs/benchmarks.md, session 8)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the plan shape is PostgreSQL's (SQLite has no typed UNION ALL flattening)")
    random_cases(random.Random(3), 45)
    build_example()
    # One case touched since November without its snapshot at November's end: its facts then come from the trail.
    at_end = CaseFactsAt.month_end == month(2026, 11).end
    dropped = db.session.scalar(select(CaseFactsAt.report_id).where(at_end).limit(1))
    db.session.execute(delete(CaseFactsAt).where(at_end, CaseFactsAt.report_id == dropped))
    seen = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "GROUP BY anon_1.department_id" in statement and "case_facts_at" in statement:
            seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        assessment_departments.department_answer(month(2026, 11), actor("admin"))
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    assert len(seen) == 1
    statement, parameters = seen[0]
    plan = db.session.connection().exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters).scalar()
    appends = [n for n in _plan_nodes(plan[0]["Plan"]) if n["Node Type"] == "Append"]
    assert len(appends) == 1, [n.get("Parallel Aware") for n in appends]
    assert len(appends[0]["Plans"]) >= 3  # rollup rows, snapshot rows, the trail's aggregations


def test_reporting_statements_are_planned_for_their_values_in_their_own_transaction_only(app):
    """psycopg prepares a statement from its fifth run on a connection and PostgreSQL may then reuse a generic plan
    that ignores the period's bounds and OFFSET 0 (by department: ~160 → ~400 ms after about ten runs). The
    assessment plans each run for its values, in its own transaction only (SET LOCAL)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("plan_cache_mode is PostgreSQL's")
    build_example()
    db.session.commit()
    assert db.session.scalar(text("SHOW plan_cache_mode")) == "auto"
    for _ in range(12):  # past psycopg's prepare threshold and PostgreSQL's five custom plans
        assessment._compute(month(2026, 11), "department", actor("admin"))
        assert db.session.scalar(text("SHOW plan_cache_mode")) == "force_custom_plan"
        db.session.rollback()
        assert db.session.scalar(text("SHOW plan_cache_mode")) == "auto"
