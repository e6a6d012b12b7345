"""Followers of a case: the reporters of merged duplicates follow the root case, and any citizen may follow a case
from the chat (「关注 JB…」 / 「取消关注 JB…」). Followers are told of its public steps and asked its return visit."""

from __future__ import annotations

from sqlalchemy import delete, func, literal, select, union_all
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.reports.models import Report, ReportFollower
from app.reports.workflow import ReportError

MAX_FOLLOWED = 50  # per citizen: following is for the cases one cares about, not a feed of the city


class CannotFollow(ReportError):
    """Following this case makes no sense (own case, cancelled, too many) or the case does not exist."""

    code = "cannot_follow"


def follower_ids(report_id: int) -> list[int]:
    """The citizens following a case, in the order they started."""
    return list(db.session.scalars(
        select(ReportFollower.citizen_id).where(ReportFollower.report_id == report_id).order_by(ReportFollower.id)
    ))


def add_follower(report: Report, citizen_id: int | None, source: str) -> bool:
    """Inside the caller's transaction: make `citizen_id` follow `report` (not its own reporter); whether it is new."""
    if citizen_id is None or citizen_id == report.citizen_id:
        return False
    exists = db.session.scalar(
        select(ReportFollower.id).where(ReportFollower.report_id == report.id, ReportFollower.citizen_id == citizen_id)
    )
    if exists is not None:
        return False
    db.session.add(ReportFollower(report_id=report.id, citizen_id=citizen_id, source=source))
    return True


def _case(case_number: str) -> Report:
    report = db.session.scalar(select(Report).where(Report.case_number == case_number.strip().upper()))
    if report is None:
        db.session.rollback()
        raise CannotFollow("not_found")
    return report


def follow_case(citizen_id: int, case_number: str) -> Report:
    """「关注 JB…」: follow a case (its root when it was merged). CannotFollow says why not (message is the reason
    code: not_found | own | cancelled | too_many). Commits."""
    report = _case(case_number)
    if report.duplicate_of_id:
        report = db.session.get(Report, report.duplicate_of_id)
    if report.citizen_id == citizen_id:
        db.session.rollback()
        raise CannotFollow("own")
    if report.status == "cancelled":
        db.session.rollback()
        raise CannotFollow("cancelled")
    count = db.session.scalar(select(func.count()).where(ReportFollower.citizen_id == citizen_id))
    if count >= MAX_FOLLOWED:
        db.session.rollback()
        raise CannotFollow("too_many")
    add_follower(report, citizen_id, "chat")
    try:
        db.session.commit()
    except IntegrityError:  # the same request twice at once: the other one made it
        db.session.rollback()
    return report


def unfollow_case(citizen_id: int, case_number: str) -> bool:
    """「取消关注 JB…」: stop following (the root too, when the number is a merged case's); whether anything stopped."""
    report = _case(case_number)
    ids = [report.id] + ([report.duplicate_of_id] if report.duplicate_of_id else [])
    gone = db.session.execute(
        delete(ReportFollower).where(ReportFollower.citizen_id == citizen_id, ReportFollower.report_id.in_(ids))
    ).rowcount
    db.session.commit()
    return bool(gone)


def own_and_followed(citizen_id: int, limit: int = 5) -> tuple[list[Report], list[Report]]:
    """A citizen's latest own cases and the latest cases they follow, in one statement (「我的举报」 is a hot path)."""
    own = (select(Report.id.label("id"), literal(1).label("own"), Report.submitted_at.label("at"))
           .where(Report.citizen_id == citizen_id).order_by(Report.submitted_at.desc()).limit(limit).subquery())
    followed = (select(ReportFollower.report_id.label("id"), literal(0).label("own"),
                       ReportFollower.created_at.label("at"))
                .where(ReportFollower.citizen_id == citizen_id).order_by(ReportFollower.id.desc()).limit(limit)
                .subquery())
    both = union_all(select(own), select(followed)).subquery()
    rows = db.session.execute(
        select(Report, both.c.own).join(both, both.c.id == Report.id).order_by(both.c.at.desc())
    ).all()
    return [r for r, o in rows if o], [r for r, o in rows if not o]


def followed_cases(citizen_id: int, limit: int = 5) -> list[Report]:
    """The cases a citizen follows, latest first."""
    return list(db.session.scalars(
        select(Report).join(ReportFollower, ReportFollower.report_id == Report.id)
        .where(ReportFollower.citizen_id == citizen_id).order_by(ReportFollower.id.desc()).limit(limit)
    ))
