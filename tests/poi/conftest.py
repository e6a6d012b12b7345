"""Fixtures for the poi tests: categories, demo data, POIs made in bulk."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.poi.services import ensure_default_categories


@pytest.fixture
def categories(app):
    """The four starting POI categories."""
    ensure_default_categories()
    return ["toilet", "parking", "police_kiosk", "car_wash"]


@pytest.fixture
def demo(app):
    """Categories, the Jiangbei demo POIs and the demo signs, committed."""
    from app.poi.seed import seed_demo

    seed_demo()
    db.session.commit()
    return app

# The console's staff users and logged-in clients, for the POI admin pages.
from tests.console.conftest import as_role, staff  # noqa: E402, F401
