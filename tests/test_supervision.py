"""督办 and corrections: re-routing (409 to the same department), recategorize, a supervisor's 督办, the deadline
warning and escalation (once per case and deadline), and the staff inbox they fill."""

from datetime import timedelta

import pytest
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from app.citizens.inbox import inbox, mark_read, unread_count
from app.citizens.models import StaffNotification, StaffUser
from app.events import OutboxEvent, run_subscriber, utcnow
from app.extensions import db
from app.reports.models import Category
from app.reports.services import InvalidReport, UnknownCategory, get_report, transition
from app.reports.supervision import parse_deadline, recategorize, registered_at, supervise, sweep_deadlines
from app.reports.workflow import InvalidTransition, NotAllowed
from tests.factories import actor, department_id, report

GYQ = "JB-S-GYQ"


def staff_user(username, role, dept=None, head=False):
    user = StaffUser(
        username=username,
        role=role,
        department_id=department_id(dept) if dept else None,
        department_head=head,
        display_name=username,
        password_hash=generate_password_hash("x" * 12, method="pbkdf2:sha256:1000"),
    )
    db.session.add(user)
    db.session.commit()
    return user


@pytest.fixture
def people(app, run_jobs):
    """Two handlers and the head of 观音桥街道, a handler elsewhere, a supervisor."""
    people = {
        "h1": staff_user("gyq-h1", "handler", GYQ),
        "h2": staff_user("gyq-h2", "handler", GYQ),
        "head": staff_user("gyq-head", "dispatcher", GYQ, head=True),
        "other": staff_user("hxj-h1", "handler", "JB-S-HXJ"),
        "sup": staff_user("sup", "supervisor"),
    }
    people["run_jobs"] = run_jobs  # with rq workers the inbox is written by jobs: drain them before looking
    return people


def dispatched(category="E0504", **kw):
    r = report(category_code=category, **kw)
    transition(r.id, "register", actor("dispatcher"))
    return transition(r.id, "dispatch", actor("dispatcher"), department_code=GYQ)


def trail_actions(report_id):
    return [e.action for e in get_report(report_id).trail]


def notified(user, people=None):
    if people is not None:
        people["run_jobs"]()
    return [
        (n.kind, n.report_id)
        for n in db.session.scalars(
            select(StaffNotification).where(StaffNotification.staff_id == user.id).order_by(StaffNotification.id)
        )
    ]


def test_dispatching_again_to_the_same_department_is_refused_and_rerouting_is_recorded(app):
    r = dispatched()
    with pytest.raises(InvalidTransition):
        transition(r.id, "dispatch", actor("dispatcher"), department_code=GYQ)
    assert trail_actions(r.id) == ["submit", "register", "dispatch"]
    r = transition(r.id, "dispatch", actor("dispatcher"), department_code="JB-S-HXJ", note="属华新街辖区")
    last = get_report(r.id).trail[-1]
    assert last.data["department"] == "JB-S-HXJ" and last.data["from_department"] == GYQ
    assert last.note == "属华新街辖区" and r.department.code == "JB-S-HXJ"


def test_the_api_answers_409_to_the_same_department(client, runner):
    result = runner.invoke(args=["api-tokens", "create", "t", "--role", "dispatcher"])
    headers = {"Authorization": f"Bearer {result.output.strip().splitlines()[-1]}"}
    r = dispatched()
    answers = [
        client.post(
            f"/api/staff/cases/{r.id}/transitions", headers=headers, json={"action": "dispatch", "department": GYQ}
        ).status_code
        for _ in range(7)
    ]
    assert answers == [409] * 7
    assert trail_actions(r.id).count("dispatch") == 1


def test_recategorize_records_from_and_to_and_counts_the_new_limit_from_registration(app):
    r = dispatched("E0504")  # 24 h
    start = registered_at(get_report(r.id))
    r = recategorize(r.id, actor("dispatcher"), "E0101", note="实为违建")  # 72 h
    entry = get_report(r.id).trail[-1]
    assert entry.action == "recategorize" and entry.data["from"] == "E0504" and entry.data["to"] == "E0101"
    assert entry.note == "实为违建" and r.category.code == "E0101"
    assert r.deadline_at == start + timedelta(hours=72)
    assert r.warn_at == start + timedelta(hours=72 * 0.8)
    assert r.status == "dispatched" and entry.from_status == entry.to_status == "dispatched"


def test_recategorize_of_an_uncategorized_case_has_from_null(app):
    r = report(description="有个东西")
    r = recategorize(r.id, actor("admin"), "E0103")
    assert get_report(r.id).trail[-1].data == {"from": None, "to": "E0103"} and r.deadline_at is None


@pytest.mark.parametrize(
    ("role", "code", "error"),
    [
        ("handler", "E0101", NotAllowed),
        ("inspector", "E0101", NotAllowed),
        ("dispatcher", "E0504", InvalidTransition),  # the same category
        ("dispatcher", "NOPE", UnknownCategory),
        ("dispatcher", "E01", UnknownCategory),  # a class, not a subclass
        ("dispatcher", "E0101'; DROP TABLE reports;--", UnknownCategory),
    ],
)
def test_recategorize_refuses_wrong_roles_and_codes(app, role, code, error):
    r = dispatched("E0504")
    with pytest.raises(error):
        recategorize(r.id, actor(role, GYQ if role == "handler" else None), code)
    assert get_report(r.id).category.code == "E0504" and trail_actions(r.id)[-1] == "dispatch"


def test_a_retired_category_cannot_be_chosen_but_stays_readable_on_old_cases(app):
    r = dispatched("E0101")
    db.session.scalar(select(Category).where(Category.code == "E0101")).active = False
    db.session.commit()
    other = dispatched("E0504", lat=29.58)
    with pytest.raises(UnknownCategory):
        recategorize(other.id, actor("dispatcher"), "E0101")
    assert get_report(r.id).category.name == "私搭乱建"


def test_supervise_marks_a_supervision_case_sets_the_deadline_and_tells_the_department(app, people):
    r = dispatched()
    new_deadline = (utcnow() + timedelta(hours=12)).replace(microsecond=0)
    r = supervise(r.id, actor("supervisor"), "请今日内处置", new_deadline)
    entry = get_report(r.id).trail[-1]
    assert r.supervised and r.deadline_at == new_deadline and not r.overdue
    assert entry.action == "supervise" and entry.data == {"deadline_at": new_deadline.strftime("%Y-%m-%dT%H:%M:%SZ")}
    assert (
        notified(people["h1"], people)
        == notified(people["h2"], people)
        == notified(people["head"], people)
        == [("supervise", r.id)]
    )
    assert notified(people["other"], people) == [] and notified(people["sup"], people) == []
    r = supervise(r.id, actor("dispatcher"), "再次督办")
    assert get_report(r.id).trail[-1].data == {"deadline_at": None}


@pytest.mark.parametrize(
    ("role", "note", "deadline", "error"),
    [
        ("handler", "督办", None, NotAllowed),
        ("inspector", "督办", None, NotAllowed),
        ("supervisor", "  ", None, InvalidReport),
        ("supervisor", "督办", "past", InvalidReport),
        ("supervisor", "督办", "far", InvalidReport),
        ("supervisor", "x" * 2001, None, InvalidReport),
    ],
)
def test_supervise_refuses_wrong_roles_empty_notes_and_impossible_deadlines(app, role, note, deadline, error):
    r = dispatched()
    when = {"past": utcnow() - timedelta(hours=1), "far": utcnow() + timedelta(days=91), None: None}[deadline]
    with pytest.raises(error):
        supervise(r.id, actor(role, GYQ if role == "handler" else None), note, when)
    assert not get_report(r.id).supervised and trail_actions(r.id)[-1] == "dispatch"


@pytest.mark.parametrize("value", ["2026-12-01T08:00:00", "tomorrow", 12, "2026-13-01T00:00:00Z", "9" * 60])
def test_deadlines_must_be_zoned_iso_instants(value):
    with pytest.raises(InvalidReport):
        parse_deadline(value)


def test_warning_at_80_percent_then_escalation_at_the_deadline_each_once(app, people):
    r = dispatched()  # 24 h: the warning is due after 19.2 h
    deadline = r.deadline_at
    assert sweep_deadlines(now=r.dispatched_at + timedelta(hours=19)) == (0, 0)
    assert sweep_deadlines(now=r.dispatched_at + timedelta(hours=19.3)) == (1, 0)
    assert sweep_deadlines(now=r.dispatched_at + timedelta(hours=20)) == (0, 0)
    assert sweep_deadlines(now=deadline + timedelta(minutes=1)) == (0, 1)
    assert sweep_deadlines(now=deadline + timedelta(hours=5)) == (0, 0)
    trail = get_report(r.id).trail
    assert [e.action for e in trail][-2:] == ["deadline_warning", "deadline_escalation"]
    assert all(e.data == {"deadline_at": deadline.strftime("%Y-%m-%dT%H:%M:%SZ")} for e in trail[-2:])
    assert trail[-1].actor_kind == "system" and trail[-1].to_status == "dispatched"
    assert notified(people["h1"], people) == [("deadline_warning", r.id), ("deadline_escalation", r.id)]
    assert notified(people["head"], people) == [("deadline_escalation", r.id)]
    assert notified(people["sup"], people) == [("deadline_escalation", r.id)]
    assert notified(people["other"], people) == []


def test_a_new_deadline_warns_and_escalates_again_once(app, people):
    r = dispatched()
    sweep_deadlines(now=r.deadline_at + timedelta(minutes=1))
    new_deadline = utcnow() + timedelta(hours=10)
    supervise(r.id, actor("supervisor"), "延期至今晚", new_deadline)
    assert sweep_deadlines(now=new_deadline - timedelta(hours=1)) == (1, 0)
    assert sweep_deadlines(now=new_deadline + timedelta(seconds=1)) == (0, 1)
    assert sweep_deadlines(now=new_deadline + timedelta(days=1)) == (0, 0)
    assert trail_actions(r.id)[-4:] == ["deadline_escalation", "supervise", "deadline_warning", "deadline_escalation"]


def test_a_case_already_past_its_deadline_gets_the_escalation_only(app, people):
    r = dispatched()
    assert sweep_deadlines(now=r.deadline_at + timedelta(days=2)) == (0, 1)
    assert sweep_deadlines(now=r.deadline_at + timedelta(days=3)) == (0, 0)


def test_cases_no_longer_dispatched_are_not_chased(app, people):
    r = dispatched()
    transition(r.id, "handle", actor("handler", GYQ), note="已处置")
    assert sweep_deadlines(now=r.deadline_at + timedelta(days=1)) == (0, 0)


def test_the_alert_subscriber_run_twice_notifies_once(app, people):
    r = dispatched()
    sweep_deadlines(now=r.deadline_at + timedelta(minutes=1))
    people["run_jobs"]()
    event_id = db.session.scalar(select(OutboxEvent.id).where(OutboxEvent.name == "StaffAlert"))
    db.session.commit()
    assert run_subscriber(event_id, "app.citizens.inbox.on_staff_alert") == "already"
    assert len(notified(people["h1"], people)) == 1


def test_the_inbox_counts_unread_and_marks_only_the_owners_entries(app, people):
    a, b = dispatched(), dispatched(lat=29.58)
    for r in (a, b):
        sweep_deadlines(now=r.deadline_at + timedelta(minutes=1))
    h1, h2 = people["h1"], people["h2"]
    people["run_jobs"]()
    assert unread_count(h1.id) == 2 and unread_count(h2.id) == 2
    theirs = [n.id for n in inbox(h2.id).items]
    assert mark_read(h1.id, theirs) == 0  # another user's ids do nothing
    assert unread_count(h2.id) == 2
    mine = inbox(h1.id)
    assert mine.total == 2 and mine.items[0].report_id == b.id  # newest first
    assert mark_read(h1.id, [mine.items[0].id]) == 1
    assert unread_count(h1.id) == 1 and [n.report_id for n in inbox(h1.id, unread_only=True).items] == [a.id]
    assert mark_read(h1.id) == 1 and unread_count(h1.id) == 0
