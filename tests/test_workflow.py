"""The closed loop: every step, who may take it, illegal steps, concurrent staff, reopen window, overdue sweep."""

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.citizens.services import Actor
from app.events import OutboxEvent, utcnow
from app.extensions import db
from app.reports.models import Report, ReportEvent
from app.reports.services import InvalidReport, PhotoInput, get_report, sweep_overdue, transition
from app.reports.workflow import STEPS, ConcurrentUpdate, InvalidTransition, NotAllowed, available_actions
from tests.factories import actor, report

DISPATCHER = "dispatcher"


def events_named(name):
    return [
        e.payload
        for e in db.session.scalars(select(OutboxEvent).where(OutboxEvent.name == name).order_by(OutboxEvent.id))
    ]


def run_loop_to(r, last_action):
    steps = [
        ("register", actor(DISPATCHER), {}),
        ("dispatch", actor(DISPATCHER), {"department_code": "JB-S-GYQ"}),
        ("handle", actor("handler", "JB-S-GYQ"), {"note": "已劝离摊贩", "photos": [PhotoInput(sha256="a" * 64)]}),
        ("verify", actor("inspector"), {}),
        ("close", actor("inspector"), {}),
    ]
    for action, who, kw in steps:
        if r.status not in STEPS[action].sources:  # already past this step (e.g. a reopened case)
            continue
        r = transition(r.id, action, who, **kw)
        if action == last_action:
            return r
    return r


def test_a_case_runs_the_whole_loop_and_the_trail_records_every_step(app):
    r = run_loop_to(report(category_code="E0504"), "close")
    assert r.status == "closed" and r.closed_at is not None
    trail = [(e.seq, e.action, e.from_status, e.to_status, e.actor_kind) for e in get_report(r.id).trail]
    assert trail == [
        (1, "submit", None, "reported", "citizen"),
        (2, "register", "reported", "registered", "staff"),
        (3, "dispatch", "registered", "dispatched", "staff"),
        (4, "handle", "dispatched", "handled", "staff"),
        (5, "verify", "handled", "verified", "staff"),
        (6, "close", "verified", "closed", "staff"),
    ]
    handle = get_report(r.id).trail[3]
    assert handle.note == "已劝离摊贩" and handle.data["photos"] == ["a" * 64]
    assert [p.kind for p in get_report(r.id).photos] == ["handling"]
    assert [e["to_status"] for e in events_named("ReportStatusChanged")] == [
        "registered",
        "dispatched",
        "handled",
        "verified",
        "closed",
    ]
    assert events_named("ReportVerified") == [
        {"report_id": r.id, "citizen_id": r.citizen_id, "category": "E0504", "duplicate_of": None}
    ]


def test_dispatch_starts_the_clock_from_the_category_time_limit(app):
    r = run_loop_to(report(category_code="E0504"), "dispatch")
    assert r.deadline_at - r.dispatched_at == timedelta(hours=24)
    assert r.department.code == "JB-S-GYQ"


@pytest.mark.parametrize(
    ("status_after", "action", "role", "error"),
    [
        ("reported", "dispatch", DISPATCHER, InvalidTransition),  # must be registered first
        ("reported", "verify", "inspector", InvalidTransition),
        ("registered", "close", DISPATCHER, InvalidTransition),
        ("reported", "register", "handler", NotAllowed),
        ("reported", "register", "inspector", NotAllowed),
        ("dispatched", "verify", "inspector", InvalidTransition),
        ("handled", "verify", DISPATCHER, NotAllowed),
        ("reported", "fly_to_moon", DISPATCHER, InvalidTransition),
    ],
)
def test_illegal_steps_raise_and_change_nothing(app, status_after, action, role, error):
    r = report(category_code="E0504")
    last = {"reported": None, "registered": "register", "dispatched": "dispatch", "handled": "handle"}[status_after]
    if last:
        r = run_loop_to(r, last)
    version, trail_len = r.version, len(r.trail)
    who = actor(role, "JB-S-GYQ" if role == "handler" else None)
    with pytest.raises(error):
        transition(r.id, action, who, note="x")
    db.session.expire_all()
    r = get_report(r.id)
    assert (r.status, r.version, len(r.trail)) == (status_after, version, trail_len)


def test_a_handler_can_only_handle_cases_of_their_own_department(app):
    r = run_loop_to(report(category_code="E0504"), "dispatch")
    with pytest.raises(NotAllowed, match="本部门"):
        transition(r.id, "handle", actor("handler", "JB-S-JBC"), note="not mine")
    assert transition(r.id, "handle", actor("handler", "JB-S-GYQ"), note="done").status == "handled"


def test_steps_that_need_a_note_or_a_reason_refuse_without_one(app):
    r = report()
    with pytest.raises(InvalidReport, match="原因"):
        transition(r.id, "cancel", actor(DISPATCHER))
    r = transition(r.id, "cancel", actor(DISPATCHER), cancel_reason="not_ours", note="属于物业内部")
    assert (r.status, r.cancel_reason) == ("cancelled", "not_ours")
    r2 = run_loop_to(report(lat=29.60), "handle")
    with pytest.raises(InvalidReport, match="说明"):
        transition(r2.id, "send_back", actor("inspector"))
    assert transition(r2.id, "send_back", actor("inspector"), note="摊位还在").status == "dispatched"


def test_marking_a_duplicate_links_it_and_its_reporter_shares_the_verification(app):
    original = report(category_code="E0504")
    dup = report(category_code="E0504")
    dup = transition(dup.id, "mark_duplicate", actor(DISPATCHER), duplicate_of=original.id)
    assert (dup.status, dup.cancel_reason, dup.duplicate_of_id) == ("cancelled", "duplicate", original.id)
    run_loop_to(original, "verify")
    verified = events_named("ReportVerified")
    assert {(v["report_id"], v["duplicate_of"]) for v in verified} == {(original.id, None), (dup.id, original.id)}


def test_reopen_is_possible_within_the_window_only(app):
    r = run_loop_to(report(), "close")
    r = transition(r.id, "reopen", actor(DISPATCHER), note="又出现了")
    assert r.status == "registered"
    r = run_loop_to(r, "close")
    r.closed_at = utcnow() - timedelta(days=8)
    db.session.commit()
    with pytest.raises(InvalidTransition, match="7 天"):
        transition(r.id, "reopen", actor(DISPATCHER), note="太晚了")


def test_invalidating_a_verified_case_emits_the_reversal_event(app):
    r = run_loop_to(report(), "verify")
    r = transition(r.id, "invalidate", actor("inspector"), note="现场核实为虚假举报")
    assert (r.status, r.cancel_reason) == ("cancelled", "false")
    assert events_named("ReportInvalidated")[0]["report_id"] == r.id


def test_available_actions_are_what_the_role_may_do_now(app):
    r = report()
    assert {s.action for s in available_actions(r.status, actor(DISPATCHER), r.department_id)} == {
        "register",
        "cancel",
        "mark_duplicate",
    }
    assert available_actions(r.status, actor("inspector"), r.department_id) == []


def test_a_stale_version_gets_a_conflict(app):
    r = report()
    transition(r.id, "register", actor(DISPATCHER), expected_version=1)
    with pytest.raises(ConcurrentUpdate, match="刷新"):
        transition(r.id, "cancel", actor(DISPATCHER), expected_version=1, cancel_reason="invalid")


def test_two_staff_acting_at_the_same_moment_one_wins_the_other_gets_a_conflict(app):
    r = report()
    rid = r.id
    db.session.commit()
    barrier = threading.Barrier(2)
    results = []

    def act(action, kw):
        with app.app_context():
            barrier.wait()
            try:
                transition(
                    rid, action, Actor(kind="staff", id=1, role="dispatcher", name=action), expected_version=1, **kw
                )
                results.append("ok")
            except (ConcurrentUpdate, InvalidTransition) as exc:
                results.append(type(exc).__name__)

    threads = [
        threading.Thread(target=act, args=("register", {})),
        threading.Thread(target=act, args=("cancel", {"cancel_reason": "invalid"})),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["ConcurrentUpdate", "ok"]
    db.session.expire_all()
    trail = db.session.scalars(select(ReportEvent).where(ReportEvent.report_id == rid).order_by(ReportEvent.seq)).all()
    assert [e.seq for e in trail] == [1, 2]
    assert get_report(rid).version == 2


def test_overdue_sweep_marks_each_late_case_once_and_emits_an_event(app, runner):
    late = run_loop_to(report(), "dispatch")
    on_time = run_loop_to(report(lat=29.60), "dispatch")
    late.deadline_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    result = runner.invoke(args=["reports", "sweep-overdue"])
    assert "1 case(s) marked overdue" in result.output
    assert sweep_overdue() == 0  # idempotent
    assert get_report(late.id).overdue and not get_report(on_time.id).overdue
    assert [e["report_id"] for e in events_named("ReportOverdue")] == [late.id]
    assert get_report(late.id).trail[-1].action == "overdue"
    assert db.session.scalar(select(func.count()).select_from(Report).where(Report.overdue.is_(True))) == 1
