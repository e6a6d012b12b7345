"""Coordinate systems (WGS-84 / GCJ-02 / BD-09), distances, coordinate validation and the service area.

China's maps publish GCJ-02 (WeChat's location messages, Tencent Maps, Amap) or BD-09 (Baidu Maps); we store WGS-84.
The GCJ-02 forward formula is the published one (Krasovsky ellipsoid constants); it has no closed-form inverse, so
`gcj02_to_wgs84` iterates the forward transform until the error is below a centimetre. Outside China no offset applies.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from geopy.distance import geodesic

CRS_NAMES = ("wgs84", "gcj02", "bd09")

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by GCJ-02
_EE = 0.00669342162296594323  # its eccentricity squared
_X_PI = math.pi * 3000.0 / 180.0


class InvalidCoordinates(ValueError):
    """Latitude/longitude missing, not numbers, NaN/infinite or out of range."""


class UnknownCRS(ValueError):
    """A coordinate system name we do not know."""


def out_of_china(lat: float, lng: float) -> bool:
    """True where GCJ-02 applies no offset (the conventional bounding box of mainland China)."""
    return not (73.66 < lng < 135.05 and 3.86 < lat < 53.55)


def _transform_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lng(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def wgs84_to_gcj02(lat: float, lng: float) -> tuple[float, float]:
    """WGS-84 to GCJ-02 (the published forward formula)."""
    if out_of_china(lat, lng):
        return lat, lng
    dlat = _transform_lat(lng - 105.0, lat - 35.0)
    dlng = _transform_lng(lng - 105.0, lat - 35.0)
    radlat = lat / 180.0 * math.pi
    magic = 1 - _EE * math.sin(radlat) ** 2
    sqrtmagic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * math.pi)
    dlng = (dlng * 180.0) / (_A / sqrtmagic * math.cos(radlat) * math.pi)
    return lat + dlat, lng + dlng


def gcj02_to_wgs84(lat: float, lng: float, tolerance_deg: float = 1e-9) -> tuple[float, float]:
    """GCJ-02 to WGS-84 by fixed-point iteration of the forward formula (converges to < 1 cm in a few steps)."""
    if out_of_china(lat, lng):
        return lat, lng
    wlat, wlng = lat, lng
    for _ in range(30):
        glat, glng = wgs84_to_gcj02(wlat, wlng)
        dlat, dlng = glat - lat, glng - lng
        wlat, wlng = wlat - dlat, wlng - dlng
        if abs(dlat) < tolerance_deg and abs(dlng) < tolerance_deg:
            break
    return wlat, wlng


def gcj02_to_bd09(lat: float, lng: float) -> tuple[float, float]:
    """GCJ-02 to Baidu's BD-09."""
    z = math.sqrt(lng * lng + lat * lat) + 0.00002 * math.sin(lat * _X_PI)
    theta = math.atan2(lat, lng) + 0.000003 * math.cos(lng * _X_PI)
    return z * math.sin(theta) + 0.006, z * math.cos(theta) + 0.0065


def bd09_to_gcj02(lat: float, lng: float) -> tuple[float, float]:
    """Baidu's BD-09 to GCJ-02."""
    x, y = lng - 0.0065, lat - 0.006
    z = math.sqrt(x * x + y * y) - 0.00002 * math.sin(y * _X_PI)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * _X_PI)
    return z * math.sin(theta), z * math.cos(theta)


def to_wgs84(lat: float, lng: float, crs: str) -> tuple[float, float]:
    """Convert from `crs` (wgs84 | gcj02 | bd09) to WGS-84."""
    crs = normalize_crs(crs)
    if crs == "wgs84":
        return lat, lng
    if crs == "gcj02":
        return gcj02_to_wgs84(lat, lng)
    if out_of_china(*bd09_to_gcj02(lat, lng)):
        return bd09_to_gcj02(lat, lng)
    return gcj02_to_wgs84(*bd09_to_gcj02(lat, lng))


def from_wgs84(lat: float, lng: float, crs: str) -> tuple[float, float]:
    """Convert WGS-84 to `crs` (for navigation links into Chinese map apps)."""
    crs = normalize_crs(crs)
    if crs == "wgs84":
        return lat, lng
    glat, glng = wgs84_to_gcj02(lat, lng)
    return (glat, glng) if crs == "gcj02" else gcj02_to_bd09(glat, glng)


def normalize_crs(crs: str | None) -> str:
    """Accept common spellings (WGS84, gcj-02, bd09ll) and return wgs84 | gcj02 | bd09."""
    key = (crs or "wgs84").lower().replace("-", "").replace("_", "")
    key = {"bd09ll": "bd09", "baidu": "bd09", "gcj": "gcj02", "mars": "gcj02", "wgs": "wgs84", "gps": "wgs84"}.get(
        key, key
    )
    if key not in CRS_NAMES:
        raise UnknownCRS(f"未知坐标系 {crs!r}，可选 wgs84、gcj02、bd09")
    return key


def parse_coordinates(lat, lng) -> tuple[float, float]:
    """Turn user input into floats, refusing missing, non-numeric, NaN, infinite and out-of-range values."""
    try:
        flat, flng = float(lat), float(lng)
    except (TypeError, ValueError) as exc:
        raise InvalidCoordinates("坐标必须是数字（纬度 lat，经度 lng）") from exc
    if not (math.isfinite(flat) and math.isfinite(flng)):
        raise InvalidCoordinates("坐标不能是 NaN 或无穷大")
    if not -90.0 <= flat <= 90.0:
        raise InvalidCoordinates(f"纬度 {flat} 超出范围（-90 到 90）")
    if not -180.0 <= flng <= 180.0:
        raise InvalidCoordinates(f"经度 {flng} 超出范围（-180 到 180）")
    return flat, flng


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Geodesic distance in metres between two WGS-84 (lat, lng) points (WGS-84 ellipsoid, via geopy)."""
    return geodesic(a, b).meters


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres: fast, within about 0.3% of the geodesic (for shortlists only)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371008.8 * math.asin(min(1.0, math.sqrt(h)))


def degree_box(lat: float, lng: float, radius_m: float) -> tuple[float, float, float, float]:
    """A (minlat, minlng, maxlat, maxlng) box that surely contains the circle of radius_m around the point."""
    dlat = radius_m / 110_574.0 * 1.01
    dlng = radius_m / (111_320.0 * max(math.cos(math.radians(lat)), 1e-6)) * 1.01
    return lat - dlat, lng - dlng, lat + dlat, lng + dlng


@dataclass(frozen=True)
class ServiceArea:
    """Where the city takes reports: a WGS-84 bounding box, or a polygon from a GeoJSON file."""

    bbox: tuple[float, float, float, float]
    polygon: object | None = None  # a prepared shapely geometry when configured from a file
    label: str = ""

    @classmethod
    def from_setting(cls, setting: str) -> ServiceArea:
        """Parse SERVICE_AREA: 'minlat,minlng,maxlat,maxlng' or a path to a GeoJSON (Multi)Polygon."""
        parts = [p.strip() for p in setting.split(",")]
        if len(parts) == 4:
            try:
                minlat, minlng, maxlat, maxlng = (float(p) for p in parts)
            except ValueError:
                pass
            else:
                if not (minlat < maxlat and minlng < maxlng):
                    raise ValueError("SERVICE_AREA box must be minlat,minlng,maxlat,maxlng")
                return cls((minlat, minlng, maxlat, maxlng), label=setting)
        from shapely import prepare
        from shapely.geometry import shape
        from shapely.ops import unary_union

        data = json.loads(Path(setting).read_text(encoding="utf-8"))
        features = data.get("features") or [data]
        geom = unary_union([shape(f.get("geometry", f)) for f in features])
        prepare(geom)
        minlng, minlat, maxlng, maxlat = geom.bounds
        return cls((minlat, minlng, maxlat, maxlng), polygon=geom, label=setting)

    def contains(self, lat: float, lng: float) -> bool:
        """True when the WGS-84 point lies inside the area."""
        minlat, minlng, maxlat, maxlng = self.bbox
        if not (minlat <= lat <= maxlat and minlng <= lng <= maxlng):
            return False
        if self.polygon is None:
            return True
        from shapely import Point

        return self.polygon.contains(Point(lng, lat))  # type: ignore[attr-defined]
