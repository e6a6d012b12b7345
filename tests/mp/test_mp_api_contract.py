"""Schemathesis against the mini-program API's own OpenAPI description (app/mp/openapi.json, as the app serves it).

Generated requests — valid and invalid bodies, coordinates, case numbers, multipart uploads — must get documented
status codes, documented bodies and content types, and never a server error.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from app.extensions import db


@pytest.fixture
def mp_api(app, live_server, mini, demo):
    """The app over real HTTP with a logged-in mini-program user who has one case; yields the base URL."""
    phone = mini()
    assert phone.report().status_code == 201
    app.config["CONTRACT_TOKEN"] = phone.token
    assert app.test_client().get("/api/mp/openapi.json").get_json() == schema.raw_schema  # the file is served
    db.session.commit()
    return live_server


# A schema-valid request may name a reward or case that does not exist, a place outside the service area, or a
# code WeChat does not know: those documented refusals are proper answers to valid-looking data.
CONFIG = SchemathesisConfig.from_dict({
    "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "400", "401", "403", "404", "409", "413",
                                                                  "422", "429", "502", "503"]},
               # too many photos is 413 (the contract), not the 400 schemathesis expects by default
               "negative_data_rejection": {"expected-statuses": ["400", "401", "404", "405", "413", "422"]}},
    "generation": {"allow-extra-parameters": False},
})
schema = schemathesis.openapi.from_path(Path(__file__).resolve().parents[2] / "app" / "mp" / "openapi.json",
                                        config=CONFIG)


@schema.parametrize()
@settings(max_examples=25, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_the_mini_program_api_keeps_its_openapi_contract(case, mp_api, app):
    case.call_and_validate(base_url=mp_api, headers={"Authorization": f"Bearer {app.config['CONTRACT_TOKEN']}",
                                                     "Idempotency-Key": "contract-key-0001"})
    db.session.rollback()
