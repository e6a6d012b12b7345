"""Writing Open311 answers: JSON as is, XML with the spec's element names, and request_dict, the one view of a case
Open311 gives (every field the spec lists, empty when unknown; never the reporter's identity)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from flask import Response, jsonify, request

from app.extensions import api_timestamp
from app.reports.citizen_view import citizen_view
from app.reports.models import OPEN_STATUSES, Category, Report
from app.reports.open311.parsing import CLOSED_STATUSES, xml_safe
from app.reports.workflow import CANCEL_REASONS

UNCLASSIFIED = ("unclassified", "待分类")
ITEM_TAGS = {"formats": "format", "attributes": "attribute", "values": "value", "endpoints": "endpoint"}

_iso = api_timestamp


def _xml_value(parent: ET.Element, key: str, value) -> None:
    el = ET.SubElement(parent, key)
    if isinstance(value, bool):
        el.text = "true" if value else "false"
    elif isinstance(value, list):
        for item in value:
            _xml_value(el, ITEM_TAGS.get(key, "item"), item)
    elif isinstance(value, dict):
        for k, v in value.items():
            _xml_value(el, k, v)
    elif value is not None:
        el.text = xml_safe(str(value))  # ElementTree escapes < > &; forbidden characters cannot be escaped at all


def render(fmt: str, root: str, item: str | None, data, status: int = 200, headers: dict | None = None) -> Response:
    """JSON as is; XML with the spec's element names (<services><service>…, <service_requests><request>…)."""
    if fmt == "json":
        response = jsonify(data)
        response.status_code = status
    else:
        top = ET.Element(root)
        if item is None:
            for k, v in data.items():
                _xml_value(top, k, v)
        else:
            for entry in data:
                _xml_value(top, item, entry)
        body = b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(top, encoding="utf-8", xml_declaration=False)
        response = Response(body, status=status, content_type="text/xml; charset=utf-8")
    response.headers.update(headers or {})
    return response


def request_format() -> str:
    """The answer's format: the route's, or XML for any path ending in .xml (in any case), JSON otherwise."""
    return (request.view_args or {}).get("fmt") or ("xml" if request.path.lower().endswith(".xml") else "json")


def render_error(status: int, description: str, headers: dict | None = None) -> Response:
    """[{"code", "description"}] in JSON, <errors><error>… in XML."""
    fmt = request_format()
    return render(fmt, "errors", "error", [{"code": status, "description": description}], status, headers)


def service_dict(c: Category, parent: Category | None) -> dict:
    """A category subclass as an Open311 service (group = its class)."""
    return {
        "service_code": c.code,
        "service_name": c.name,
        "description": f"{parent.name if parent else ''} / {c.name}（处置时限 {c.time_limit_hours} 小时）",
        "metadata": False,
        "type": "realtime",
        "keywords": ",".join(k.keyword for k in c.keywords[:12]),
        "group": parent.name if parent else c.name,
    }


def request_dict(r: Report) -> dict:
    """A case as an Open311 service request: every field the spec lists, "" when unknown. Built from the case's
    public citizen view (app/reports/citizen_view.py): moderated text with personal data masked, the rounded
    point, the latest public note; never the reporter, never a staff-internal note."""
    view = citizen_view(r, audience="public")
    notes = view.status_label
    if view.latest_note:
        notes += f"：{view.latest_note}"
    elif r.status == "cancelled" and r.cancel_reason:
        notes += f"：{CANCEL_REASONS.get(r.cancel_reason, r.cancel_reason)}"
    if r.overdue and r.status in OPEN_STATUSES:
        notes += "（已超期督办）"
    code, name = (r.category.code, r.category.name) if r.category else UNCLASSIFIED
    return {
        "service_request_id": view.case_number,
        "status": "closed" if r.status in CLOSED_STATUSES else "open",
        "status_notes": notes,
        "service_name": name,
        "service_code": code,
        "description": view.description,
        "agency_responsible": view.department_name or "",
        "service_notice": "",
        "requested_datetime": _iso(r.submitted_at),
        "updated_datetime": _iso(r.updated_at) or "",
        "expected_datetime": _iso(r.deadline_at) or "",
        "address": view.address or "",
        "address_id": "",
        "zipcode": "",
        "lat": view.lat if view.lat is not None else "",
        "long": view.lng if view.lng is not None else "",
        "media_url": "",  # photos are shown on staff surfaces only; there is no public photo URL to give
    }
