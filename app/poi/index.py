"""The in-process nearest-POI index: KD-trees on 3-D unit vectors, exact geodesic ranking of a provable shortlist.

Why this shape (figures in docs/bench/poi.md and docs/reliability.md): a scipy cKDTree on unit vectors answers k
nearest by chord distance in tens of microseconds at 1,000,000 points, several times faster than PostgreSQL KNN round
trips, and needs no PostGIS. Chord order is great-circle order on a sphere, which is not quite geodesic order on the
WGS-84 ellipsoid, so we shortlist by chord and rank the shortlist with the real geodesic (pyproj's Geod, Karney's
algorithm, the same as geopy's geodesic to 1e-9 m, vectorised).

Why the shortlist is enough: for any two points, geodesic >= SPHERE_TO_GEODESIC_MIN * great-circle distance on the
sphere of radius EARTH_RADIUS_M (the ellipsoid's smallest radius of curvature, at the equator's meridian, is
6,335,439 m = 0.99442 R; tests/poi check the bound on random pairs). Every point the tree did not return has a chord
at least the last returned chord c, so its geodesic is at least SPHERE_TO_GEODESIC_MIN * 2R asin(c/2). When the k-th
best geodesic in the shortlist is below that bound the answer is exact; otherwise the shortlist grows (x4) and we
check again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from pyproj import Geod
from scipy.spatial import cKDTree

EARTH_RADIUS_M = 6371008.8
SPHERE_TO_GEODESIC_MIN = 0.994  # geodesic / great-circle distance on EARTH_RADIUS_M is never below this
MIN_SHORTLIST = 16
_GEOD = Geod(ellps="WGS84")


@dataclass(frozen=True)
class CategoryInfo:
    """What the index knows about a category (small; copied with the index)."""

    id: int
    code: str
    name: str
    icon: str
    sort: int


@dataclass(frozen=True)
class Hit:
    """One result of an index query: the POI's id, its category code and the geodesic distance in metres."""

    poi_id: int
    category: str
    distance_m: float


def unit_vectors(lat: np.ndarray, lng: np.ndarray) -> np.ndarray:
    """(n, 3) unit vectors for WGS-84 latitudes/longitudes in degrees (geodetic latitude on the unit sphere)."""
    la, ln = np.radians(lat), np.radians(lng)
    cos_la = np.cos(la)
    return np.column_stack((cos_la * np.cos(ln), cos_la * np.sin(ln), np.sin(la)))


def geodesic_m(lat: float, lng: float, lats: np.ndarray, lngs: np.ndarray) -> np.ndarray:
    """Geodesic distances in metres on WGS-84 from one point to many (vectorised Karney, as geopy's geodesic)."""
    n = len(lats)
    _, _, dist = _GEOD.inv(np.full(n, lng), np.full(n, lat), lngs, lats)
    return np.asarray(dist, dtype=np.float64)


def chord_for_geodesic(distance_m: float) -> float:
    """The largest chord a point within `distance_m` (geodesic) can have."""
    angle = distance_m / SPHERE_TO_GEODESIC_MIN / EARTH_RADIUS_M
    return 2.0 if angle >= math.pi else 2.0 * math.sin(angle / 2.0)


def geodesic_lower_bound(chord: float) -> float:
    """The smallest geodesic distance a point at this chord (or farther) can have."""
    return SPHERE_TO_GEODESIC_MIN * 2.0 * EARTH_RADIUS_M * math.asin(min(1.0, chord / 2.0))


@dataclass
class PoiIndex:
    """Active POIs as numpy arrays plus one KD-tree per category and one for all."""

    ids: np.ndarray  # int64, one per POI
    lat: np.ndarray
    lng: np.ndarray
    category_pos: np.ndarray  # int32: position of the POI's category in `categories`
    categories: list[CategoryInfo]
    trees: dict[str | None, tuple[cKDTree, np.ndarray]] = field(default_factory=dict)
    memo: dict = field(default_factory=dict)  # answers derived from this copy (services.nearest_by_category)

    @classmethod
    def build(cls, ids, category_ids, lat, lng, categories: list[CategoryInfo]) -> PoiIndex:
        """Build from parallel arrays (ids, category ids, WGS-84 lat, lng); POIs of unknown categories are left out."""
        ids = np.asarray(ids, dtype=np.int64)
        category_ids = np.asarray(category_ids, dtype=np.int64)
        lat = np.asarray(lat, dtype=np.float64)
        lng = np.asarray(lng, dtype=np.float64)
        lookup = {c.id: i for i, c in enumerate(categories)}
        if len(ids):
            table = np.full(int(max(category_ids.max(), max(lookup, default=0))) + 1, -1, dtype=np.int32)
            for cid, pos in lookup.items():
                table[cid] = pos
            category_pos = table[category_ids]
        else:
            category_pos = np.empty(0, dtype=np.int32)
        keep = category_pos >= 0
        ids, lat, lng, category_pos = ids[keep], lat[keep], lng[keep], category_pos[keep]
        index = cls(ids, lat, lng, category_pos, list(categories))
        vectors = unit_vectors(lat, lng)
        # compact/balanced off: a several times faster build, queries barely slower (bench/poi_nearest.py).
        opts = {"leafsize": 16, "compact_nodes": False, "balanced_tree": False}
        index.trees[None] = (cKDTree(vectors, **opts), np.arange(len(ids)))
        for i, cat in enumerate(categories):
            positions = np.flatnonzero(category_pos == i)
            index.trees[cat.code] = (cKDTree(vectors[positions], **opts), positions)
        return index

    def __len__(self) -> int:
        return len(self.ids)

    def category(self, code: str) -> CategoryInfo | None:
        """The category with this code, if it is in the index."""
        return next((c for c in self.categories if c.code == code), None)

    def nearest(self, lat: float, lng: float, category: str | None = None, k: int = 5,
                within_m: float | None = None) -> list[Hit]:
        """The k nearest POIs by geodesic distance (ties by id), optionally of one category and within a radius."""
        if category not in self.trees:
            raise KeyError(category)
        tree, positions = self.trees[category]
        n = len(positions)
        if n == 0 or k < 1:
            return []
        la, ln = math.radians(lat), math.radians(lng)
        query = (math.cos(la) * math.cos(ln), math.cos(la) * math.sin(ln), math.sin(la))
        upper = chord_for_geodesic(within_m) * (1 + 1e-9) if within_m is not None else np.inf
        m = min(n, max(4 * k, MIN_SHORTLIST))
        while True:
            chord, local = tree.query(query, k=m, distance_upper_bound=upper)
            chord, local = np.atleast_1d(chord), np.atleast_1d(local)
            found = local < n
            chord, local = chord[found], local[found]
            pos = positions[local]
            dist = geodesic_m(lat, lng, self.lat[pos], self.lng[pos])
            # Ranked at millimetre resolution, ties by id: two places less than a millimetre apart in distance are
            # a tie (two geodesic implementations already disagree below that; hypothesis found such a pair).
            order = np.lexsort((self.ids[pos], np.round(dist, 3)))
            if within_m is not None:
                order = order[dist[order] <= within_m]
            exhausted = len(local) < m or m == n  # the tree returned everything in reach
            if exhausted:
                break
            needed = dist[order[k - 1]] if len(order) >= k else (within_m if within_m is not None else math.inf)
            if needed < geodesic_lower_bound(float(chord[-1])):
                break
            m = min(n, m * 4)
        best = order[:k]
        codes = [self.categories[c].code for c in self.category_pos[pos[best]].tolist()]
        return [
            Hit(i, c, d)
            for i, c, d in zip(self.ids[pos[best]].tolist(), codes, dist[best].tolist(), strict=True)
        ]
