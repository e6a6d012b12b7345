"""The return visit (回访) after 结案: ask the reporter and the followers once, record one answer each, and send a
case that is "not solved" back to the dispatcher as 「群众反映未解决」 (counted as 返工 for its department).

Trail contract (the monthly assessment reads it): every answer is an internal entry action="feedback" with
data={"rating": …, "resolved": …}; the move to the not-solved state is an entry action="unresolved" with the
department that handled the case in its data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from app.events import ReportStatusChanged, ReturnVisitAsked, emit, utcnow
from app.extensions import db
from app.reports.followers import follower_ids
from app.reports.models import Report, ReportEvent, ReportPhoto, ReturnVisit
from app.reports.workflow import ConcurrentUpdate, ReportError

RATINGS = ("satisfied", "basically_satisfied", "dissatisfied")
MAX_DETAILS_CHARS = 500
MAX_DETAIL_PHOTOS = 9


class VisitNotFound(ReportError):
    """No return visit with that id for this citizen."""

    code = "not_found"


class AlreadyAnswered(ReportError):
    """The citizen answered this return visit already."""

    code = "already_answered"


class FeedbackClosed(ReportError):
    """The answer came after FEEDBACK_WINDOW_DAYS."""

    code = "feedback_closed"


@dataclass(frozen=True)
class Answer:
    """What an answer did: its case, its rating, and whether the case went back as 「群众反映未解决」."""

    visit_id: int
    case_number: str
    rating: str
    moved_to_unresolved: bool


def ask_return_visits(report: Report, close_seq: int, note: str | None) -> int:
    """Inside the 结案 transaction: one visit for the reporter and each follower, each with its ReturnVisitAsked."""
    now = utcnow()
    expires = now + timedelta(days=current_app.config["FEEDBACK_WINDOW_DAYS"])
    asked = [(report.citizen_id, "reporter")] if report.citizen_id else []
    asked += [(cid, "follower") for cid in follower_ids(report.id) if cid != report.citizen_id]
    for citizen_id, role in asked:
        visit = ReturnVisit(report_id=report.id, citizen_id=citizen_id, close_seq=close_seq, role=role,
                            asked_at=now, expires_at=expires)
        db.session.add(visit)
        db.session.flush()
        emit(ReturnVisitAsked(visit_id=visit.id, report_id=report.id, case_number=report.case_number,
                              citizen_id=citizen_id, role=role, note=note))
    return len(asked)


def _append(report: Report, action: str, from_status: str, citizen_id: int, note: str | None, data: dict) -> None:
    """Flush the case (its version moves: the entry's seq) and append an internal entry written by the citizen."""
    try:
        db.session.flush()
    except Exception as exc:  # StaleDataError: the case changed meanwhile
        db.session.rollback()
        raise ConcurrentUpdate("案件刚被他人修改，请稍后再试") from exc
    db.session.add(ReportEvent(report=report, seq=report.version, action=action, from_status=from_status,
                               to_status=report.status, actor_kind="citizen", actor_id=citizen_id,
                               actor_name="市民回访", note=note, visibility="internal", data=data))


def _own_visit(visit_id: int, citizen_id: int) -> ReturnVisit:
    visit = db.session.get(ReturnVisit, visit_id)
    if visit is None or visit.citizen_id != citizen_id:
        db.session.rollback()
        raise VisitNotFound("没有找到这次回访")
    return visit


def answer_return_visit(visit_id: int, citizen_id: int, rating: str, now: datetime | None = None,
                        comment: str | None = None) -> Answer:
    """Record a citizen's answer once, within the window; 不满意 moves a closed case to 「群众反映未解决」. Commits.

    A `comment` given with the answer (the mini-program's form sends both at once) is kept on the visit and on an
    internal trail entry in the same transaction, whatever the rating.
    """
    if rating not in RATINGS:
        raise ReportError(f"未知的评价 {rating!r}")
    now = now or utcnow()
    visit = _own_visit(visit_id, citizen_id)
    report = db.session.get(Report, visit.report_id)
    if visit.answered_at is not None:
        db.session.rollback()
        raise AlreadyAnswered(report.case_number)
    if now > visit.expires_at:
        db.session.rollback()
        raise FeedbackClosed(report.case_number)
    resolved = rating != "dissatisfied"
    # Claimed by a conditional UPDATE: of two answers racing (a double tap, two phones), the second waits for the
    # first one's commit and then matches no row, whatever it read before (the case's version alone does not
    # catch a racer that read the case after the first commit but the visit before it).
    claimed = db.session.execute(
        update(ReturnVisit)
        .where(ReturnVisit.id == visit.id, ReturnVisit.answered_at.is_(None))
        .values(rating=rating, resolved=resolved, answered_at=now)
    ).rowcount
    if not claimed:
        db.session.rollback()
        raise AlreadyAnswered(report.case_number)
    report.updated_at = now
    _append(report, "feedback", report.status, citizen_id, None,
            {"rating": rating, "resolved": resolved, "visit_id": visit.id, "role": visit.role})
    comment = (comment or "").strip()[:MAX_DETAILS_CHARS]
    if comment:
        visit.comment = comment
        report.updated_at = utcnow()  # a new version: the note's own seq
        _append(report, "feedback_note", report.status, citizen_id, comment, {"visit_id": visit.id})
    moved = not resolved and report.status == "closed"
    if moved:
        from_status = report.status
        report.status, report.closed_at = "unresolved", None
        department = report.department
        _append(report, "unresolved", from_status, citizen_id, None,
                {"visit_id": visit.id, "department": department.code if department else None,
                 "department_id": report.department_id})
        emit(ReportStatusChanged(report_id=report.id, case_number=report.case_number, citizen_id=report.citizen_id,
                                 from_status=from_status, to_status="unresolved", action="unresolved",
                                 seq=report.version, told_citizen_id=citizen_id))
    answer = Answer(visit.id, report.case_number, rating, moved)
    _commit()
    return answer


def add_feedback_details(visit_id: int, citizen_id: int, text: str | None = None,
                         media_id: str | None = None) -> int:
    """Keep a sentence or a photo a citizen adds after 不满意 for the case (the dispatcher sees them); the case id.

    Only for a visit answered 不满意; the words go on the visit and on an internal trail entry, a photo becomes a
    pending "feedback" photo that the bot's jobs fetch. Commits.
    """
    visit = _own_visit(visit_id, citizen_id)
    if visit.rating != "dissatisfied":
        db.session.rollback()
        raise VisitNotFound("这次回访没有待补充的说明")
    report = db.session.get(Report, visit.report_id)
    if text:
        text = text.strip()[:MAX_DETAILS_CHARS]
        visit.comment = f"{visit.comment}；{text}" if visit.comment else text
        report.updated_at = utcnow()
        _append(report, "feedback_note", report.status, citizen_id, text, {"visit_id": visit.id})
    if media_id:
        ref = f"wechat:{media_id[:128]}"
        known = db.session.scalars(
            select(ReportPhoto.source_ref).where(ReportPhoto.report_id == report.id, ReportPhoto.kind == "feedback")
        ).all()
        if ref not in known and len(known) < MAX_DETAIL_PHOTOS:
            db.session.add(ReportPhoto(report_id=report.id, kind="feedback", source_ref=ref, status="pending"))
    _commit()
    return report.id


def latest_visits(report_ids, citizen_id: int) -> dict[int, ReturnVisit]:
    """Per case, the citizen's return visit of its latest closure they were asked about (answered or not); one query
    for a whole list of cases."""
    visits = db.session.scalars(
        select(ReturnVisit)
        .where(ReturnVisit.report_id.in_(list(report_ids)), ReturnVisit.citizen_id == citizen_id)
        .order_by(ReturnVisit.close_seq)
    )
    return {v.report_id: v for v in visits}  # a later closure's visit replaces an earlier one


def latest_visit(report_id: int, citizen_id: int) -> ReturnVisit | None:
    """The citizen's return visit of the case's latest closure they were asked about (answered or not), or None."""
    return latest_visits([report_id], citizen_id).get(report_id)


def answer_case_visit(case_number: str, citizen_id: int, rating: str, comment: str | None = None) -> Answer:
    """answer_return_visit for the latest visit of case `case_number` to this citizen (reporter or follower);
    VisitNotFound when the case is unknown or the citizen was never asked about it. Commits."""
    report_id = db.session.scalar(select(Report.id).where(Report.case_number == case_number))
    visit = latest_visit(report_id, citizen_id) if report_id is not None else None
    if visit is None:
        raise VisitNotFound(case_number)
    return answer_return_visit(visit.id, citizen_id, rating, comment=comment)


def is_pending(visit: ReturnVisit | None, now: datetime | None = None) -> bool:
    """Whether the visit waits for an answer that can still be given."""
    return visit is not None and visit.answered_at is None and (now or utcnow()) <= visit.expires_at


def _commit() -> None:
    try:
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        raise ConcurrentUpdate("案件刚被他人修改，请稍后再试") from exc


def case_feedback(report_id: int) -> dict | None:
    """The answer of the case's latest return visit, for staff: the reporter's, else the first follower's; or None.

    {"rating": …, "resolved": …, "at": datetime}.
    """
    visits = db.session.scalars(
        select(ReturnVisit).where(ReturnVisit.report_id == report_id, ReturnVisit.answered_at.isnot(None))
        .order_by(ReturnVisit.close_seq.desc(), ReturnVisit.answered_at)
    ).all()
    if not visits:
        return None
    latest = [v for v in visits if v.close_seq == visits[0].close_seq]
    chosen = next((v for v in latest if v.role == "reporter"), latest[0])
    return {"rating": chosen.rating, "resolved": bool(chosen.resolved), "at": chosen.answered_at}


def return_visits(report_id: int) -> list[ReturnVisit]:
    """Every return visit of a case, newest closure first (the console shows them with the citizens' words)."""
    return list(db.session.scalars(
        select(ReturnVisit).where(ReturnVisit.report_id == report_id)
        .order_by(ReturnVisit.close_seq.desc(), ReturnVisit.id)
    ))


def satisfaction(since: datetime, report_ids=None) -> dict:
    """Answers since `since` (optionally only for the cases selected by `report_ids`, a subquery of ids):
    {"answered", "satisfied", "basically_satisfied", "dissatisfied", "rate"} with 满意率 = (1 + 2) / answered."""
    query = select(ReturnVisit.rating).where(ReturnVisit.answered_at >= since)
    if report_ids is not None:
        query = query.where(ReturnVisit.report_id.in_(report_ids))
    counts = dict.fromkeys(RATINGS, 0)
    for rating in db.session.scalars(query):
        counts[rating] = counts.get(rating, 0) + 1
    answered = sum(counts.values())
    rate = (counts["satisfied"] + counts["basically_satisfied"]) / answered if answered else None
    return {"answered": answered, **counts, "rate": rate}
