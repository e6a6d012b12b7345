"""The worked example of docs/assessment.md: thirteen cases of two departments with their trails, times included.

Cases are submitted through the real use case; their trail (and the times on it) is then written directly, as the
contracts with parallel work allow ("supervise", "feedback", "unresolved" rows come from other packages).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from app.extensions import db
from app.reports.models import Department, Report, ReportEvent
from tests import factories

HWS, GYQ = "JB-HWS", "JB-S-GYQ"


def at(text: str) -> datetime:
    """A UTC instant from '2026-11-02T01:00Z'."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def make_case(
    name: str,
    dept: str | None,
    submitted: str,
    steps: list[tuple],
    status: str,
    deadline: str | None = None,
    channel: str = "wechat",
) -> Report:
    """One case with its trail: steps are (action, time) or (action, time, data)."""
    report = factories.report(description=f"示例案件 {name}", channel=channel)
    submit = db.session.scalar(select(ReportEvent).where(ReportEvent.report_id == report.id))
    submit.created_at = at(submitted)
    seq = submit.seq
    for step in steps:
        action, when, data = (*step, {})[:3]
        seq += 1
        db.session.add(ReportEvent(
            report_id=report.id, seq=seq, action=action, from_status=None, to_status=status, actor_kind="staff",
            actor_name="示例", data=data, created_at=at(when),
        ))
    dept_row = db.session.scalar(select(Department).where(Department.code == dept)) if dept else None
    report.department_id = dept_row.id if dept_row else report.department_id
    report.submitted_at = at(submitted)
    report.status = status
    report.deadline_at = at(deadline) if deadline else None
    report.updated_at = at(steps[-1][1]) if steps else at(submitted)
    db.session.commit()
    return report


def dispatch(when: str, dept: str) -> tuple:
    """A dispatch entry as the workflow writes it."""
    return ("dispatch", when, {"department": dept})


def build_example() -> None:
    """The cases of docs/assessment.md, "Worked example" (period 2026-11, Asia/Shanghai)."""
    make_case("A1", HWS, "2026-11-02T01:00Z", [
        ("register", "2026-11-02T01:10Z"), dispatch("2026-11-02T01:20Z", HWS),
        ("handle", "2026-11-03T08:00Z"), ("verify", "2026-11-03T09:00Z"), ("close", "2026-11-03T10:00Z"),
        ("feedback", "2026-11-05T02:00Z", {"rating": "satisfied", "resolved": True}),
    ], "closed", deadline="2026-11-04T01:20Z")
    make_case("A2", HWS, "2026-11-05T02:00Z", [
        ("register", "2026-11-05T03:00Z"), dispatch("2026-11-05T03:10Z", HWS),
        ("handle", "2026-11-08T09:00Z"), ("verify", "2026-11-09T01:00Z"), ("close", "2026-11-09T02:00Z"),
        ("feedback", "2026-11-12T02:00Z", {"rating": "dissatisfied", "resolved": True}),
    ], "closed", deadline="2026-11-07T03:10Z")
    make_case("A3", HWS, "2026-11-10T00:00Z", [
        ("register", "2026-11-10T00:05Z"), dispatch("2026-11-10T01:00Z", HWS),
        ("supervise", "2026-11-10T12:00Z", {"deadline_at": None}),
        ("handle", "2026-11-11T00:00Z"), ("send_back", "2026-11-11T06:00Z"), ("handle", "2026-11-11T12:00Z"),
        ("verify", "2026-11-11T20:00Z"), ("close", "2026-11-12T00:00Z"),
        ("feedback", "2026-11-15T03:00Z", {"rating": "basically_satisfied", "resolved": True}),
    ], "closed", deadline="2026-11-12T01:00Z")
    make_case("A4", HWS, "2026-11-20T00:00Z", [
        ("register", "2026-11-20T00:10Z"), dispatch("2026-11-20T00:20Z", HWS),
        ("supervise", "2026-11-22T06:00Z", {"deadline_at": "2026-11-24T00:00:00+00:00"}),
    ], "dispatched", deadline="2026-11-24T00:00Z")
    make_case("A5", HWS, "2026-10-20T00:00Z", [
        ("register", "2026-10-20T00:10Z"), dispatch("2026-10-20T00:20Z", HWS), ("overdue", "2026-10-22T01:00Z"),
    ], "dispatched", deadline="2026-10-22T00:20Z")
    make_case("A6", HWS, "2026-10-22T00:00Z", [
        ("register", "2026-10-22T00:10Z"), dispatch("2026-10-22T00:20Z", HWS),
        ("handle", "2026-10-24T00:00Z"), ("verify", "2026-10-24T05:00Z"), ("close", "2026-10-26T00:00Z"),
    ], "closed", deadline="2026-10-25T00:20Z")
    make_case("A7", HWS, "2026-11-29T09:00Z", [
        ("register", "2026-11-29T09:10Z"), dispatch("2026-11-29T10:00Z", HWS),
    ], "dispatched", deadline="2026-12-01T10:00Z")
    make_case("A8", HWS, "2026-10-26T00:00Z", [
        ("register", "2026-10-26T00:10Z"), dispatch("2026-10-26T00:20Z", HWS), ("overdue", "2026-10-28T01:00Z"),
        ("handle", "2026-11-03T00:00Z"), ("verify", "2026-11-03T02:00Z"), ("close", "2026-11-03T04:00Z"),
    ], "closed", deadline="2026-10-28T00:20Z")
    make_case("A9", HWS, "2026-11-11T00:00Z", [
        ("register", "2026-11-11T00:10Z"), dispatch("2026-11-11T00:20Z", HWS),
        ("handle", "2026-11-12T00:00Z"), ("verify", "2026-11-12T06:00Z"), ("close", "2026-11-12T12:00Z"),
        ("feedback", "2026-11-14T00:00Z", {"rating": "dissatisfied", "resolved": False}),
        ("unresolved", "2026-11-14T00:01Z"),
    ], "dispatched", deadline="2026-11-13T00:20Z")
    make_case("A10", HWS, "2026-11-27T00:00Z", [
        ("register", "2026-11-27T00:10Z"), dispatch("2026-11-27T00:20Z", HWS), ("handle", "2026-12-01T00:00Z"),
    ], "handled", deadline="2026-11-29T00:20Z")
    make_case("B1", GYQ, "2026-11-03T00:00Z", [
        ("register", "2026-11-03T00:20Z"), dispatch("2026-11-03T00:30Z", HWS), dispatch("2026-11-03T02:00Z", GYQ),
        ("handle", "2026-11-04T00:00Z"), ("verify", "2026-11-04T02:00Z"), ("close", "2026-11-04T04:00Z"),
    ], "closed", deadline="2026-11-05T02:00Z", channel="hotline")
    make_case("B2", None, "2026-11-06T00:00Z", [("cancel", "2026-11-06T01:00Z")], "cancelled")
    make_case("B3", GYQ, "2026-11-15T00:00Z", [
        ("register", "2026-11-15T00:10Z"), dispatch("2026-11-15T00:20Z", GYQ),
        ("mark_duplicate", "2026-11-16T00:00Z"),
    ], "cancelled", deadline="2026-11-17T00:20Z")
