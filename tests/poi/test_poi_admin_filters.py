"""The POI admin search takes `%` and `_` literally, and an unknown category filter is a 400."""

from __future__ import annotations

import re

import pytest


def _total(response) -> int:
    return int(re.search(r'id="poi-total">共 (\d+) 处', response.get_data(as_text=True)).group(1))


@pytest.mark.parametrize("q", ["%", "_", "%%", "__"])
def test_like_wildcards_in_the_poi_search_match_only_themselves(demo, as_role, q):
    admin = as_role("admin")
    assert _total(admin.get("/poi/staff/pois")) > 0
    assert _total(admin.get("/poi/staff/pois", query_string={"q": q})) == 0


def test_like_wildcards_in_the_sign_search_match_only_themselves(demo, as_role):
    admin = as_role("admin")
    everything = admin.get("/poi/staff/signs").get_data(as_text=True)
    assert "DEMO01" in everything
    assert "DEMO01" not in admin.get("/poi/staff/signs", query_string={"q": "%"}).get_data(as_text=True)


def test_an_unknown_category_filter_in_the_poi_admin_is_a_400(demo, as_role):
    admin = as_role("admin")
    assert admin.get("/poi/staff/pois", query_string={"category": "toilet"}).status_code == 200
    assert admin.get("/poi/staff/pois", query_string={"category": "no-such"}).status_code == 400
