"""The page a QR sign opens (/s/<code>) and the nearby-POI JSON API."""

from __future__ import annotations

import time
from dataclasses import dataclass

from flask import Blueprint, abort, current_app, jsonify, render_template, request

from app.geo import InvalidCoordinates, UnknownCRS, from_wgs84, normalize_crs, parse_coordinates, to_wgs84
from app.poi import admin
from app.poi.nav import navigation_links
from app.poi.services import (
    UnknownPoiCategory,
    count_scan,
    get_active_sign,
    nearest_by_category,
    nearest_pois,
    page_memo,
)

bp = Blueprint("poi", __name__)
bp.register_blueprint(admin.bp)

MAX_LIMIT = 50
JSSDK_PAGES = ("/s/", "/report", "/me/")  # the pages that call wx.config: signs, the H5 report form, my cases
JSSDK_URL_MAX = 2048
PAGE_MEMO_MAX = 2000  # rendered sign pages kept per process (about 25 KB each)


def format_distance(metres: float) -> str:
    """「120 米」 under a kilometre, 「1.2 公里」 above."""
    if metres < 1000:
        return f"{round(metres)} 米"
    return f"{metres / 1000:.1f} 公里"


def _nav(poi, origin) -> dict[str, str]:
    return navigation_links(poi.lat, poi.lng, poi.name, origin,
                            tencent_referer=current_app.config.get("POI_TENCENT_MAP_REFERER") or "百姓城管")


def _jssdk_signer():
    """The WeChat JS-SDK signer create_app registers (app.bot.jssdk) when the account is configured, else None:
    callable(url) -> wx.config fields, or None when WeChat cannot give a ticket now."""
    return current_app.extensions.get("wechat_jssdk_signer")


def _sign_html(sign, wechat: bool) -> str:
    """The rendered page of a sign, rendered at most once a minute per process (open-now moves by the minute).

    Kept on the current index's memo, so an import or refresh_index() drops it with the index; the key holds
    everything of the sign the page shows, so a relabelled or moved sign renders afresh.
    """
    pages = page_memo()
    version = (sign.label, sign.lat, sign.lng, int(time.time() // 60))
    kept = pages.get((sign.code, wechat))  # one entry per sign (and browser kind): bounded by the signs scanned
    if kept is not None and kept[0] == version:
        return kept[1]
    origin = (sign.lat, sign.lng, sign.label)
    groups = [(cat, [(p, _nav(p, origin)) for p in pois]) for cat, pois in nearest_by_category(sign.lat, sign.lng)]
    gcj = {p.id: from_wgs84(p.lat, p.lng, "gcj02") for _, pois in groups for p, _ in pois}
    html = render_template("poi/sign.html", sign=sign, groups=groups, distance=format_distance, wechat=wechat,
                           gcj=gcj)
    if len(pages) >= PAGE_MEMO_MAX:
        pages.clear()
    pages[(sign.code, wechat)] = (version, html)
    return html


@bp.get("/s/<code>")
def sign_page(code: str):
    """A sign's page: per category the nearest three with distance, walking time, hours, marks and navigation."""
    sign = get_active_sign(code)
    if sign is None:
        return render_template("poi/not_found.html", code=code), 404
    count_scan(sign.code)
    # Inside WeChat, with a JS-SDK signer registered, 「导航」 also opens WeChat's own map (wx.openLocation).
    wechat = "MicroMessenger" in request.headers.get("User-Agent", "") and _jssdk_signer() is not None
    response = current_app.make_response(_sign_html(sign, wechat))
    response.headers["Cache-Control"] = "no-cache"  # every scan must reach us to be counted; hours change
    return response


@dataclass(frozen=True)
class _Place:
    """A location that is not a sign (the chat's 「附近」 link): the sign page's template shows it the same way."""

    code: str
    label: str
    lat: float
    lng: float


@bp.get("/nearby")
def nearby_page():
    """The HTML page of the facilities nearest to ?lat=&lng= (crs wgs84|gcj02|bd09; the chat links here)."""
    args = request.args
    try:
        crs = normalize_crs(args.get("crs") or "wgs84")
        lat, lng = parse_coordinates(args.get("lat", ""), args.get("lng", ""))
    except (InvalidCoordinates, UnknownCRS) as exc:
        _bad(str(exc))
    wlat, wlng = to_wgs84(lat, lng, crs)
    place = _Place(code="", label="您附近", lat=round(wlat, 6), lng=round(wlng, 6))
    origin = (place.lat, place.lng, "我的位置")
    groups = [(cat, [(p, _nav(p, origin)) for p in pois]) for cat, pois in nearest_by_category(place.lat, place.lng)]
    gcj = {p.id: from_wgs84(p.lat, p.lng, "gcj02") for _, pois in groups for p, _ in pois}
    response = current_app.make_response(render_template("poi/sign.html", sign=place, groups=groups,
                                                         distance=format_distance, wechat=False, gcj=gcj))
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/api/poi/jssdk-config")
def jssdk_config():
    """wx.config fields for the page at ?url= (signed by the bot package's signer); 404 when WeChat is not set up."""
    signer = _jssdk_signer()
    url = request.args.get("url", "")
    base = current_app.config["PUBLIC_BASE_URL"]
    if signer is None:
        abort(404, description="未配置微信 JS-SDK")
    if len(url) > JSSDK_URL_MAX or not url.startswith(tuple(base + p for p in JSSDK_PAGES)):
        abort(400, description="url 必须是本站页面的地址")
    fields = signer(url.split("#")[0])
    if not fields:
        abort(503, description="微信 JS-SDK 暂不可用")
    return jsonify(fields)


def _bad(message: str):
    abort(400, description=message)


@bp.get("/api/poi/nearby")
def api_nearby():
    """JSON: the nearest POIs to lat/lng (crs wgs84|gcj02|bd09), optionally of one category; distances in metres."""
    args = request.args
    if not args.get("lat") or not args.get("lng"):
        _bad("缺少参数 lat 和 lng")
    try:
        crs = normalize_crs(args.get("crs") or "wgs84")
        lat, lng = parse_coordinates(args["lat"], args["lng"])
    except (InvalidCoordinates, UnknownCRS) as exc:
        _bad(str(exc))
    try:
        limit = int(args.get("limit") or 5)
    except ValueError:
        _bad("limit 必须是 1 到 50 的整数")
    if not 1 <= limit <= MAX_LIMIT:
        _bad("limit 必须是 1 到 50 的整数")
    category = args.get("category") or None
    wlat, wlng = to_wgs84(lat, lng, crs)
    try:
        pois = nearest_pois(wlat, wlng, category=category, k=limit)
    except UnknownPoiCategory as exc:
        _bad(str(exc))
    origin = (wlat, wlng, "我的位置")
    results = [
        {
            "id": p.id, "name": p.name, "category": p.category, "category_name": p.category_name,
            "distance_m": round(p.distance_m, 1), "walk_minutes": p.walk_minutes, "lat": p.lat, "lng": p.lng,
            "address": p.address, "opening_hours": p.opening_hours, "open_now": p.open_now,
            "accessible": p.accessible, "baby_room": p.baby_room, "fee": p.fee, "spaces": p.spaces,
            "phone": p.phone, "nav": _nav(p, origin),
        }
        for p in pois
    ]
    return jsonify(origin={"lat": wlat, "lng": wlng, "crs": "wgs84"}, crs="wgs84", results=results)
