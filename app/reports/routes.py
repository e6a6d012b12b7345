"""Web entry points of the case domain: the console, its admin pages, the staff JSON API, Open311 GeoReport v2,
the assessment and map (insight), the moderation queue, and the public pages of cases (map, list, one case's trail).
Each part is a nested blueprint of `bp`.
"""

from __future__ import annotations

from flask import Blueprint

from app.reports import (
    admin,
    console,
    hotline,
    insight,
    moderation_console,
    open311,
    public,
    staff_api,
    tickets_api,
    tickets_console,
)

bp = Blueprint("reports", __name__)
bp.register_blueprint(console.bp)
bp.register_blueprint(admin.bp)
bp.register_blueprint(staff_api.bp)
bp.register_blueprint(open311.bp)
bp.register_blueprint(insight.api_bp)
bp.register_blueprint(insight.console_bp)
bp.register_blueprint(moderation_console.bp)
bp.register_blueprint(tickets_api.bp)
bp.register_blueprint(tickets_console.bp)
bp.register_blueprint(hotline.bp)
public.register(bp)
