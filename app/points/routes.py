"""The points package's web surface: the JSON API (api.py) and the citizen H5 and staff pickup pages (pages.py)."""

from __future__ import annotations

from flask import Blueprint

from app.points.api import api_bp
from app.points.pages import pages_bp
from app.points.staff_api import staff_api_bp

bp = Blueprint("points", __name__)
bp.register_blueprint(api_bp)
bp.register_blueprint(pages_bp)
bp.register_blueprint(staff_api_bp)
