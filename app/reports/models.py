"""Case models: departments, categories, grid cells, routing rules, cases, their photos and audit trail."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.events import utcnow
from app.extensions import UTCDateTime, db
from app.reports.case_facts import CaseFacts  # noqa: F401  (the trail's rollup: its table and flush hook load with the models)

STATUSES = ("reported", "registered", "dispatched", "handled", "verified", "closed", "cancelled", "unresolved")
# "unresolved": a citizen answered the return visit with 不满意（问题没有解决）; back in the dispatcher's queue.
OPEN_STATUSES = ("reported", "registered", "dispatched", "handled", "unresolved")
CHANNELS = ("wechat", "open311", "console", "hotline", "ticket", "h5", "miniprogram")
CHANNEL_LABELS = {"wechat": "微信", "open311": "Open311", "console": "工作台", "hotline": "热线", "ticket": "工单接口",
                  "h5": "网页", "miniprogram": "小程序"}
STATUS_LABELS = {
    "reported": "已上报",
    "registered": "已立案",
    "dispatched": "已派遣",
    "handled": "已处置",
    "verified": "已核查",
    "closed": "已结案",
    "cancelled": "已注销",
    "unresolved": "群众反映未解决",
}


class Department(db.Model):
    """A body that can own a case: street office, town, district department, public-service unit, property company."""

    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16), default="department")  # street | town | department | unit | property
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Category(db.Model):
    """A case category: a class (level 1) or a subclass (level 2) of 事件 (event) or 部件 (component)."""

    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)  # e.g. E05 (class), E0504 (subclass)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # event | component
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"), index=True)
    default_department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    time_limit_hours: Mapped[int] = mapped_column(Integer, default=48)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    parent: Mapped[Category | None] = relationship(remote_side=[id])
    keywords: Mapped[list[CategoryKeyword]] = relationship(cascade="all, delete-orphan", back_populates="category")

    @property
    def class_code(self) -> str:
        """The level-1 class this category belongs to (itself for a class). By parent, not by code prefix: an
        admin may move a subclass to another class and its code stays what it was (codes are stable)."""
        return self.parent.code if self.parent_id is not None and self.parent is not None else self.code


class CategoryKeyword(db.Model):
    """A word citizens use for a category (摆摊 → 占道经营), with a weight."""

    __tablename__ = "category_keywords"
    __table_args__ = (UniqueConstraint("category_id", "keyword"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), index=True)
    keyword: Mapped[str] = mapped_column(String(32))
    weight: Mapped[float] = mapped_column(Float, default=1.0)

    category: Mapped[Category] = relationship(back_populates="keywords")


class GridCell(db.Model):
    """A grid cell polygon at one level of the hierarchy (district → street/town → community → property company)."""

    __tablename__ = "grid_cells"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[int] = mapped_column(Integer, default=2)  # 1 district, 2 street/town, 3 community, 4 property
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("grid_cells.id"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    geometry: Mapped[dict[str, Any]] = mapped_column(JSON)  # GeoJSON Polygon / MultiPolygon, WGS-84
    min_lat: Mapped[float] = mapped_column(Float)
    min_lng: Mapped[float] = mapped_column(Float)
    max_lat: Mapped[float] = mapped_column(Float)
    max_lng: Mapped[float] = mapped_column(Float)


class RoutingRule(db.Model):
    """(category, grid) → responsible department; either side may be empty to mean "any"."""

    __tablename__ = "routing_rules"
    __table_args__ = (UniqueConstraint("category_id", "grid_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid_cells.id"))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))


class CaseCounter(db.Model):
    """The per-day sequence behind readable case numbers (JB2611230042)."""

    __tablename__ = "case_counters"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Report(db.Model):
    """A case: one problem in the street, from report to closure."""

    __tablename__ = "reports"
    __table_args__ = (
        # A point in range, or (an address-only Open311 request) no point at all and flagged for the dispatcher.
        CheckConstraint(
            # IS NOT NULL spelled out: a CHECK whose expression is NULL passes.
            "(lat IS NOT NULL AND lng IS NOT NULL AND lat BETWEEN -90 AND 90 AND lng BETWEEN -180 AND 180) "
            "OR (lat IS NULL AND lng IS NULL AND needs_location)",
            name="coords_in_range",
        ),
        Index("ix_reports_geo", "lat", "lng"),
        Index("ix_reports_status_submitted", "status", "submitted_at"),
        Index("ix_reports_department_status", "department_id", "status"),
        Index("ix_reports_overdue_sweep", "status", "deadline_at"),
        Index("ix_reports_warning_sweep", "status", "warn_at"),
        # A period's cases by submission time; on PostgreSQL the index also carries what the dashboard groups and
        # counts, so a month's charts are an index-only scan (migration facts0003).
        Index("ix_reports_submitted_at", "submitted_at",
              postgresql_include=["status", "category_id", "department_id", "lat", "lng", "overdue", "closed_at"]),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_number: Mapped[str] = mapped_column(String(20), unique=True)
    # A channel's own key for the submission (e.g. the bot's draft id): a double submit finds the first case.
    client_ref: Mapped[str | None] = mapped_column(String(100), unique=True)
    citizen_id: Mapped[int | None] = mapped_column(ForeignKey("citizens.id"), index=True)
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    # WGS-84; None only while needs_location (an address-only request the dispatcher has still to place).
    lat: Mapped[float | None] = mapped_column(Float)
    lng: Mapped[float | None] = mapped_column(Float)
    raw_lat: Mapped[float | None] = mapped_column(Float)  # as received, in raw_crs
    raw_lng: Mapped[float | None] = mapped_column(Float)
    needs_location: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    raw_crs: Mapped[str] = mapped_column(String(8))
    address: Mapped[str | None] = mapped_column(String(200))
    # A phone number an anonymous H5 reporter chose to leave: staff only, never in any citizen view.
    contact_phone: Mapped[str | None] = mapped_column(String(32))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid_cells.id"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    status: Mapped[str] = mapped_column(String(16), default="reported")
    channel: Mapped[str] = mapped_column(String(16), default="wechat")
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"), index=True)
    cancel_reason: Mapped[str | None] = mapped_column(String(32))
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    # 督办 (app/reports/supervision.py): when the warning falls due, and the deadline each alert was sent for,
    # so that a warning and an escalation go out once per case and deadline; `supervised` marks a 督办件.
    warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    warned_for: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalated_for: Mapped[datetime | None] = mapped_column(UTCDateTime)
    supervised: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Optimistic concurrency: every UPDATE says WHERE version = <what we read>; a concurrent change makes it miss.
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)  # ix_reports_submitted_at
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # What the public may see (app/reports/citizen_view.py): screening at submission says "clear" or "flagged"
    # (with the reasons); a moderator makes it "approved" or "hidden" (off every public surface).
    moderation: Mapped[str] = mapped_column(String(12), default="clear", server_default="clear")
    moderation_reasons: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    public_description: Mapped[str | None] = mapped_column(Text)  # a moderator's edit; the original stays

    category: Mapped[Category | None] = relationship()
    department: Mapped[Department | None] = relationship()
    grid: Mapped[GridCell | None] = relationship()
    photos: Mapped[list[ReportPhoto]] = relationship(order_by="ReportPhoto.id", back_populates="report")
    trail: Mapped[list[ReportEvent]] = relationship(order_by="ReportEvent.seq", back_populates="report")

    @property
    def status_label(self) -> str:
        """The state in Chinese, for citizens and staff."""
        return STATUS_LABELS.get(self.status, self.status)


class ReportPhoto(db.Model):
    """A photo of a case: from the reporter or from the handling unit. Pending until its bytes arrive."""

    __tablename__ = "report_photos"
    __table_args__ = (UniqueConstraint("report_id", "source_ref"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="report")  # report | handling
    status: Mapped[str] = mapped_column(String(16), default="stored")  # pending | stored | missing
    sha256: Mapped[str | None] = mapped_column(String(64))
    source_ref: Mapped[str | None] = mapped_column(String(200))  # e.g. wechat:<MediaId>, url:<media_url>
    missing_reason: Mapped[str | None] = mapped_column(String(200))
    hidden: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())  # by a moderator
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    report: Mapped[Report] = relationship(back_populates="photos")


class ReportEvent(db.Model):
    """One entry of a case's audit trail. Appended, never rewritten: (report, seq) is unique."""

    __tablename__ = "report_events"
    __table_args__ = (UniqueConstraint("report_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(24))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_name: Mapped[str] = mapped_column(String(64), default="")
    note: Mapped[str | None] = mapped_column(Text)
    # Who may read this entry's note: "public" (the reporter, followers, the public) or "internal" (staff only).
    visibility: Mapped[str] = mapped_column(String(8), default="internal", server_default="internal")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    report: Mapped[Report] = relationship(back_populates="trail")


class CaseFlag(db.Model):
    """Someone on the public page said a case is inappropriate; a moderator resolves it."""

    __tablename__ = "case_flags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    reason: Mapped[str] = mapped_column(String(16))  # a key of FLAG_REASONS
    note: Mapped[str] = mapped_column(String(200), default="")
    client: Mapped[str] = mapped_column(String(64), default="")  # a keyed hash of the address, never the address
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(64))


FLAG_REASONS = {
    "personal": "泄露个人信息",
    "abuse": "辱骂、不文明内容",
    "false": "内容不实",
    "ad": "广告、无关内容",
    "other": "其他",
}


class DuplicateCandidate(db.Model):
    """A likely duplicate found at submission: same class, still open, close by, recent. Staff decide."""

    __tablename__ = "duplicate_candidates"

    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), primary_key=True)
    distance_m: Mapped[float] = mapped_column(Float)


class Open311Update(db.Model):
    """An update a client posted through Open311's servicerequestupdates (FixMyStreet's comment on a case): kept as a
    trail comment; (client, update_id) is unique so the client's retries add it once."""

    __tablename__ = "open311_updates"
    __table_args__ = (UniqueConstraint("client", "update_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client: Mapped[str] = mapped_column(String(32))  # a digest of the api_key, never the key itself
    update_id: Mapped[str] = mapped_column(String(64))  # the client's own id of the update
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("report_events.id"))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# Ticket, callback and hotline-caller tables (their own module; imported here so the metadata is complete).
from app.reports import ticket_models  # noqa: E402,F401


class ReturnVisit(db.Model):
    """The return visit (回访) of one closure of a case to one citizen (its reporter or a follower).

    One row per (case, citizen, closing trail entry): a case closed again after a 「未解决」 is asked again, never the
    same closure twice. Answered once, within FEEDBACK_WINDOW_DAYS of the question.
    """

    __tablename__ = "return_visits"
    __table_args__ = (UniqueConstraint("report_id", "citizen_id", "close_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"), index=True)
    close_seq: Mapped[int] = mapped_column(Integer)  # the seq of the 结案 trail entry that asked
    role: Mapped[str] = mapped_column(String(16), default="reporter")  # reporter | follower
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rating: Mapped[str | None] = mapped_column(String(24))  # satisfied | basically_satisfied | dissatisfied
    resolved: Mapped[bool | None] = mapped_column(Boolean)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    comment: Mapped[str | None] = mapped_column(Text)  # what the citizen added after 不满意


class ReportFollower(db.Model):
    """A citizen who follows a case that is not theirs: a merged duplicate's reporter, or 「关注 JB…」 in the chat."""

    __tablename__ = "report_followers"
    __table_args__ = (UniqueConstraint("report_id", "citizen_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"), index=True)
    source: Mapped[str] = mapped_column(String(16), default="chat")  # duplicate | chat
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
