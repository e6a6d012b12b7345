"""Walking-navigation links into Tencent Maps, Amap (both GCJ-02) and Baidu Maps (BD-09), converted from WGS-84."""

from __future__ import annotations

import functools
from urllib.parse import urlencode

from app.geo import from_wgs84

APP_NAME = "百姓城管"
BAIDU_SRC = "webapp.baixing.chengguan"


def _c(value: float) -> str:
    return f"{value:.6f}"


@functools.lru_cache(maxsize=8192)  # the same sign shows the same links to every scan; encoding them costs
def navigation_links(lat: float, lng: float, name: str, origin: tuple[float, float, str] | None = None,
                     tencent_referer: str = APP_NAME) -> dict[str, str]:
    """{"tencent", "amap", "baidu"} URLs for walking to WGS-84 (lat, lng); `origin` (lat, lng, name) is the start."""
    glat, glng = from_wgs84(lat, lng, "gcj02")
    blat, blng = from_wgs84(lat, lng, "bd09")
    tencent = {"type": "walk", "to": name, "tocoord": f"{_c(glat)},{_c(glng)}", "referer": tencent_referer}
    amap = {"to": f"{_c(glng)},{_c(glat)},{name}", "mode": "walk", "coordinate": "gaode", "callnative": "1",
            "src": APP_NAME}
    baidu = {"destination": f"latlng:{_c(blat)},{_c(blng)}|name:{name}", "mode": "walking",
             "coord_type": "bd09ll", "output": "html", "src": BAIDU_SRC}
    if origin is not None:
        olat, olng, oname = origin
        ogl, ogn = from_wgs84(olat, olng, "gcj02")
        obl, obn = from_wgs84(olat, olng, "bd09")
        tencent.update({"from": oname, "fromcoord": f"{_c(ogl)},{_c(ogn)}"})
        amap["from"] = f"{_c(ogn)},{_c(ogl)},{oname}"
        baidu["origin"] = f"latlng:{_c(obl)},{_c(obn)}|name:{oname}"
    return {
        "tencent": "https://apis.map.qq.com/uri/v1/routeplan?" + urlencode(tencent),
        "amap": "https://uri.amap.com/navigation?" + urlencode(amap),
        "baidu": "https://api.map.baidu.com/direction?" + urlencode(baidu),
    }
