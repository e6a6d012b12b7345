"""Grid cells (import, spatial index, lookup) and routing rules (category × grid → responsible department)."""

from __future__ import annotations

from dataclasses import dataclass, field

import shapely
from flask import current_app
from shapely import STRtree
from shapely.geometry import Point, shape
from sqlalchemy import select

from app.cache import cached, invalidate
from app.extensions import db
from app.reports.models import Category, Department, GridCell, RoutingRule

GRID_CACHE = "grid-index"
ROUTING_CACHE = "routing-rules"


class GridImportError(ValueError):
    """A grid file with problems; nothing was imported. `errors` lists (feature number, reason)."""

    def __init__(self, errors: list[tuple[int, str]]):
        super().__init__("; ".join(f"feature {n}: {why}" for n, why in errors[:20]))
        self.errors = errors


@dataclass
class GridIndex:
    """An STRtree over every cell's polygon, plus the hierarchy, for point lookups without a loop over cells."""

    ids: list[int] = field(default_factory=list)
    levels: list[int] = field(default_factory=list)
    parents: dict[int, int | None] = field(default_factory=dict)
    departments: dict[int, int | None] = field(default_factory=dict)
    tree: STRtree | None = None

    def lookup(self, lat: float, lng: float) -> int | None:
        """The deepest cell containing the WGS-84 point (a property company's cell beats its community's)."""
        if self.tree is None:
            return None
        hits = self.tree.query(Point(lng, lat), predicate="intersects")
        if len(hits) == 0:
            return None
        best = max(hits, key=lambda i: (self.levels[i], -i))
        return self.ids[best]

    def chain(self, grid_id: int | None) -> list[int]:
        """The cell and its ancestors, deepest first."""
        out: list[int] = []
        while grid_id is not None and grid_id not in out:
            out.append(grid_id)
            grid_id = self.parents.get(grid_id)
        return out


def _build_grid_index() -> GridIndex:
    rows = db.session.execute(
        select(GridCell.id, GridCell.level, GridCell.parent_id, GridCell.department_id, GridCell.geometry)
    ).all()
    index = GridIndex()
    geoms = []
    for r in rows:
        index.ids.append(r.id)
        index.levels.append(r.level)
        index.parents[r.id] = r.parent_id
        index.departments[r.id] = r.department_id
        geoms.append(shape(r.geometry))
    if geoms:
        index.tree = STRtree(geoms)
    return index


def grid_index() -> GridIndex:
    """This process's current grid index (rebuilt when grids change anywhere)."""
    return cached(GRID_CACHE, _build_grid_index)


def find_grid(lat: float, lng: float) -> int | None:
    """The id of the deepest grid cell at a WGS-84 point, or None outside every cell."""
    return grid_index().lookup(lat, lng)


def import_grids(collection: dict) -> tuple[int, int]:
    """Upsert grid cells from a GeoJSON FeatureCollection (by `code`); all or nothing. Returns (created, updated).

    Feature properties: code (required), name (required), level (1-4, default 2), parent (a cell code, in this
    file or already imported), department (a department code).
    """
    features = collection.get("features") if isinstance(collection, dict) else None
    if not isinstance(features, list) or not features:
        raise GridImportError([(0, "not a GeoJSON FeatureCollection with features")])
    departments = {d.code: d.id for d in db.session.scalars(select(Department))}
    existing = {c.code: c for c in db.session.scalars(select(GridCell))}
    errors: list[tuple[int, str]] = []
    parsed = []
    seen: set[str] = set()
    for n, feature in enumerate(features, start=1):
        props = (feature or {}).get("properties") or {}
        code, name = str(props.get("code") or "").strip(), str(props.get("name") or "").strip()
        if not code or not name:
            errors.append((n, "code and name are required"))
            continue
        if code in seen:
            errors.append((n, f"code {code} appears twice"))
            continue
        seen.add(code)
        try:
            geom = shape(feature.get("geometry"))
        except Exception as exc:
            errors.append((n, f"bad geometry: {exc}"))
            continue
        if geom.geom_type not in ("Polygon", "MultiPolygon") or geom.is_empty:
            errors.append((n, f"geometry must be a Polygon or MultiPolygon, got {geom.geom_type}"))
            continue
        if not geom.is_valid:
            errors.append((n, f"invalid polygon: {shapely.is_valid_reason(geom)}"))
            continue
        minlng, minlat, maxlng, maxlat = geom.bounds
        if not (-90 <= minlat <= maxlat <= 90 and -180 <= minlng <= maxlng <= 180):
            errors.append((n, "coordinates out of range (GeoJSON is lng,lat in WGS-84)"))
            continue
        dept = props.get("department")
        if dept and dept not in departments:
            errors.append((n, f"unknown department {dept}"))
            continue
        parsed.append(
            (
                n,
                code,
                name,
                int(props.get("level") or 2),
                props.get("parent"),
                departments.get(dept),
                shapely.geometry.mapping(geom),
                geom.bounds,
            )
        )
    known_codes = set(existing) | seen
    errors += [
        (n, f"unknown parent {parent}") for n, _c, _nm, _l, parent, *_ in parsed if parent and parent not in known_codes
    ]
    if errors:
        raise GridImportError(errors)
    created = updated = 0
    for _n, code, name, level, _parent, dept_id, geometry, (minlng, minlat, maxlng, maxlat) in parsed:
        cell = existing.get(code)
        if cell is None:
            cell = GridCell(code=code)
            db.session.add(cell)
            existing[code] = cell
            created += 1
        else:
            updated += 1
        cell.name, cell.level, cell.department_id, cell.geometry = name, level, dept_id, geometry
        cell.min_lat, cell.min_lng, cell.max_lat, cell.max_lng = minlat, minlng, maxlat, maxlng
    db.session.flush()
    for _n, code, *_rest in parsed:
        parent = _rest[2]
        existing[code].parent_id = existing[parent].id if parent else None
    db.session.commit()
    invalidate(GRID_CACHE)
    return created, updated


def _load_rules() -> dict[tuple[int | None, int | None], int]:
    return {(r.category_id, r.grid_id): r.department_id for r in db.session.scalars(select(RoutingRule))}


def resolve_department(category: Category | None, grid_id: int | None) -> int | None:
    """The responsible department for a category at a grid cell, most specific rule first.

    1. a rule for (category or its class, the cell or an ancestor), deepest cell first;
    2. a rule for the category (or class) anywhere;
    3. the category's (or its class's) default department;
    4. a rule for any category at the cell or an ancestor;
    5. the department of the cell or its nearest ancestor that has one (a street office, a property company);
    6. the configured DEFAULT_DEPARTMENT (the district's command centre).
    """
    rules = cached(ROUTING_CACHE, _load_rules)
    index = grid_index()
    grids = index.chain(grid_id)
    cats: list[int] = []
    if category is not None:
        cats = [category.id] + ([category.parent_id] if category.parent_id else [])
    for g in grids:
        for c in cats:
            if (c, g) in rules:
                return rules[(c, g)]
    for c in cats:
        if (c, None) in rules:
            return rules[(c, None)]
    if category is not None:
        if category.default_department_id:
            return category.default_department_id
        if category.parent is not None and category.parent.default_department_id:
            return category.parent.default_department_id
    for g in grids:
        if (None, g) in rules:
            return rules[(None, g)]
    for g in grids:
        if index.departments.get(g):
            return index.departments[g]
    if (None, None) in rules:
        return rules[(None, None)]
    code = current_app.config.get("DEFAULT_DEPARTMENT")
    return db.session.scalar(select(Department.id).where(Department.code == code)) if code else None


def set_routing_rule(category_id: int | None, grid_id: int | None, department_id: int) -> RoutingRule:
    """Create or change the rule for (category, grid)."""
    rule = db.session.scalar(
        select(RoutingRule).where(RoutingRule.category_id == category_id, RoutingRule.grid_id == grid_id)
    )
    if rule is None:
        rule = RoutingRule(category_id=category_id, grid_id=grid_id, department_id=department_id)
        db.session.add(rule)
    rule.department_id = department_id
    db.session.commit()
    invalidate(ROUTING_CACHE)
    return rule
