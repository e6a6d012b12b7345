"""Placing a case that arrived without a point (an address-only Open311 request): the dispatcher gives it one.

One transaction: the point (checked like a submission's: numbers, the service area), its grid cell, the department
the grid now implies while the case is not yet dispatched, likely duplicates, and a trail entry `locate`.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from app import geo
from app.citizens.services import Actor
from app.extensions import db
from app.reports.grids import find_grid, resolve_department
from app.reports.models import DuplicateCandidate, Report
from app.reports.services import (
    InvalidReport,
    OutsideServiceArea,
    _append_trail_after_bump,
    find_duplicate_candidates,
    get_report,
)
from app.reports.workflow import ConcurrentUpdate, InvalidTransition, NotAllowed

PLACERS = frozenset({"dispatcher", "admin"})
UNDISPATCHED = ("reported", "registered")


def place_case(report_id: int, lat: float, lng: float, actor: Actor, crs: str = "wgs84",
               expected_version: int | None = None) -> Report:
    """Give a needs_location case its point; NotAllowed for other roles, InvalidTransition when it has one."""
    if actor.role not in PLACERS:
        raise NotAllowed("只有调度员可以确定案件位置")
    report = get_report(report_id)
    if not report.needs_location:
        raise InvalidTransition("这个案件已有位置")
    if expected_version is not None and report.version != expected_version:
        raise ConcurrentUpdate(f"案件已被他人修改（当前版本 {report.version}），请刷新后再试")
    try:
        raw_lat, raw_lng = geo.parse_coordinates(lat, lng)
        crs = geo.normalize_crs(crs)
    except (geo.InvalidCoordinates, geo.UnknownCRS) as exc:
        raise InvalidReport(str(exc)) from exc
    wgs_lat, wgs_lng = geo.to_wgs84(raw_lat, raw_lng, crs)
    if not current_app.extensions["service_area"].contains(wgs_lat, wgs_lng):
        raise OutsideServiceArea("这个位置不在本平台的服务范围内")
    report.lat, report.lng, report.raw_lat, report.raw_lng, report.raw_crs = wgs_lat, wgs_lng, raw_lat, raw_lng, crs
    report.needs_location = False
    report.grid_id = find_grid(wgs_lat, wgs_lng)
    if report.status in UNDISPATCHED:
        report.department_id = resolve_department(report.category, report.grid_id)
    duplicates = find_duplicate_candidates(wgs_lat, wgs_lng, report.category, exclude_id=report.id)
    for other, distance in duplicates:
        db.session.add(DuplicateCandidate(report_id=report.id, candidate_id=other.id, distance_m=round(distance, 1)))
    _append_trail_after_bump(report, "locate", report.status, actor, None,
                             {"lat": round(wgs_lat, 6), "lng": round(wgs_lng, 6), "crs": crs})
    try:
        db.session.commit()
    except (StaleDataError, IntegrityError) as exc:
        db.session.rollback()
        raise ConcurrentUpdate("案件刚被他人修改，请刷新后再试") from exc
    return report
