"""JSON shapes of the mini-program API: a case as its citizen may see it (app.reports.citizen_view), nearby POIs."""

from __future__ import annotations

from flask import url_for

from app.extensions import api_timestamp as iso
from app.geo import from_wgs84
from app.reports.citizen_view import CitizenCase


def case_json(case: CitizenCase, with_trail: bool = True) -> dict:
    """A case from its citizen view: status, category, the public trail, before/after photos."""
    out = {
        "case_number": case.case_number,
        "status": case.status,
        "status_label": case.status_label,
        "category_code": case.category_code,
        "category_name": case.category_name,
        "department_name": case.department_name,
        "description": case.description,
        "address": case.address,
        "submitted_at": iso(case.submitted_at),
        "updated_at": iso(case.updated_at),
        "deadline_at": iso(case.deadline_at) if case.deadline_at else None,
        "closed": case.closed,
        "latest_note": case.latest_note,
    }
    if with_trail:
        out["steps"] = [
            {"seq": s.seq, "action": s.action, "label": s.label, "status": s.status, "status_label": s.status_label,
             "at": iso(s.at), "note": s.note}
            for s in case.steps
        ]
        out["photos"] = [
            {"id": p.id, "kind": p.kind, "width": p.width, "height": p.height,
             "url": url_for("mp.case_photo", case_number=case.case_number, photo_id=p.id),
             "thumb_url": url_for("mp.case_photo", case_number=case.case_number, photo_id=p.id, variant="thumb")}
            for p in case.photos
        ]
    return out


def poi_json(p, crs: str) -> dict:
    """A nearby POI with its position in `crs` (gcj02 is what wx.openLocation expects)."""
    lat, lng = from_wgs84(p.lat, p.lng, crs)
    return {
        "id": p.id, "name": p.name, "category": p.category, "category_name": p.category_name,
        "distance_m": round(p.distance_m, 1), "walk_minutes": p.walk_minutes,
        "lat": round(lat, 6), "lng": round(lng, 6), "crs": crs, "address": p.address,
        "opening_hours": p.opening_hours, "open_now": p.open_now, "accessible": p.accessible, "phone": p.phone,
    }
