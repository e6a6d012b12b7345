"""Read side of the console map: cases as points and grid cells as outlines, in the tiles' coordinate system."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import aliased

from app import geo
from app.citizens.services import Actor
from app.extensions import db
from app.reports import queries
from app.reports.models import Category, GridCell, Report


def _display_crs() -> str:
    """Points are drawn in the tiles' system (GCJ-02 for most Chinese tiles); WGS-84 on the blank background."""
    if not current_app.config.get("MAP_TILE_URL"):
        return "wgs84"
    return geo.normalize_crs(current_app.config.get("MAP_TILE_CRS", "wgs84"))


def map_query(f: queries.CaseFilter, actor: Actor, limit: int):
    """The map's query: the list's filters and order, only the columns a marker needs (benchmarks explain it)."""
    cat = aliased(Category)
    return (
        queries.list_query(f, actor)
        .with_only_columns(
            Report.id, Report.case_number, Report.lat, Report.lng, Report.status, Report.overdue, cat.name,
            maintain_column_froms=False,
        )
        .select_from(Report)
        .outerjoin(cat, cat.id == Report.category_id)
        .limit(limit)
    )


def map_points(f: queries.CaseFilter, actor: Actor) -> dict:
    """Up to MAP_MAX_POINTS cases of the filter as [id, number, lat, lng, status, overdue, category] rows."""
    limit = current_app.config["MAP_MAX_POINTS"]
    crs = _display_crs()
    rows = db.session.execute(map_query(f, actor, limit + 1)).all()
    points = []
    for rid, number, lat, lng, status, overdue, category in rows[:limit]:
        dlat, dlng = geo.from_wgs84(lat, lng, crs)
        points.append([rid, number, round(dlat, 6), round(dlng, 6), status, bool(overdue), category or ""])
    return {"crs": crs, "points": points, "truncated": len(rows) > limit, "limit": limit}


def grid_outlines(max_level: int = 3) -> dict:
    """Grid cells down to `max_level` as a GeoJSON FeatureCollection (outer rings, in the display system)."""
    crs = _display_crs()
    features = []
    for cell in db.session.scalars(select(GridCell).where(GridCell.level <= max_level).order_by(GridCell.code)):
        geom = cell.geometry or {}
        polygons = [geom.get("coordinates", [])] if geom.get("type") == "Polygon" else geom.get("coordinates", [])
        rings = []
        for polygon in polygons:
            ring = polygon[0] if polygon else []
            step = max(1, len(ring) // 500)
            out = []
            for lng, lat, *_ in ring[::step]:
                dlat, dlng = geo.from_wgs84(lat, lng, crs)
                out.append([round(dlng, 6), round(dlat, 6)])
            rings.append([out])
        features.append({
            "type": "Feature",
            "properties": {"code": cell.code, "name": cell.name, "level": cell.level},
            "geometry": {"type": "MultiPolygon", "coordinates": rings},
        })
    return {"type": "FeatureCollection", "features": features}


def case_point(report: Report) -> dict | None:
    """One case's position for the case page's map (None for a case still to be placed)."""
    if report.lat is None or report.lng is None:
        return None
    lat, lng = geo.from_wgs84(report.lat, report.lng, _display_crs())
    return {"lat": round(lat, 6), "lng": round(lng, 6), "number": report.case_number}
