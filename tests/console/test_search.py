"""Text search (`q=`) over descriptions, addresses and case numbers: ranked, escaped, scoped, bounded."""

from __future__ import annotations

import pytest

from app.reports.services import transition
from tests.console.test_console_staff_api import make_token
from tests.factories import actor, report


@pytest.fixture
def token(runner):
    return make_token(runner, "platform", "--role", "dispatcher")


def numbers(client, token, q, **args):
    response = client.get("/api/staff/cases", headers=token, query_string={"q": q, **args})
    assert response.status_code == 200, response.get_json()
    return [item["case_number"] for item in response.get_json()["items"]]


def test_words_are_found_in_descriptions_and_addresses_and_address_hits_rank_first(client, token):
    stall = report("路口有人摆摊卖水果")
    by_address = report("这里很乱", address="建新北路摆摊一条街")
    report("井盖破损")
    assert numbers(client, token, "摆摊") == [by_address.case_number, stall.case_number]
    assert numbers(client, token, "不存在的词") == []


def test_a_case_number_is_an_exact_lookup_in_any_case(client, token):
    r = report("井盖破损")
    assert numbers(client, token, r.case_number.lower()) == [r.case_number]


def test_a_part_of_a_case_number_finds_it(client, token):
    r = report("井盖破损")
    assert numbers(client, token, r.case_number[:8]) == [r.case_number]


def test_percent_and_underscore_match_themselves_not_everything(client, token):
    literal = report("垃圾桶满了100%溢出")
    underscore = report("编号 A_1 的路灯不亮")
    report("井盖破损")
    assert numbers(client, token, "%") == [literal.case_number]
    assert numbers(client, token, "_") == [underscore.case_number]
    assert numbers(client, token, "A_1") == [underscore.case_number]


def test_search_combines_with_the_other_filters(client, token):
    a = report("路口有人摆摊卖水果")
    report("桥下有人摆摊")
    transition(a.id, "register", actor("dispatcher"))
    assert numbers(client, token, "摆摊", status="registered") == [a.case_number]


def test_another_departments_case_is_not_found_by_its_words(app, client, runner):
    mine = report("路口有人摆摊卖水果")
    other = report("桥下有人摆摊", lat=29.60, lng=106.55)
    for r, dept in ((mine, "JB-S-GYQ"), (other, "JB-S-HXJ")):
        transition(r.id, "register", actor("dispatcher"))
        transition(r.id, "dispatch", actor("dispatcher"), department_code=dept)
    own = make_token(runner, "gyq", "--role", "handler", "--department", "JB-S-GYQ")
    assert numbers(client, own, "摆摊") == [mine.case_number]


def test_an_oversized_query_is_refused(client, token):
    response = client.get("/api/staff/cases", headers=token, query_string={"q": "摆" * 101})
    assert response.status_code == 400 and "q" in response.get_json()["message"]


def test_the_console_list_searches_too(as_role):
    r = report("路口有人摆摊卖水果", address="观音桥步行街")
    html = as_role("dispatcher").get("/console/", query_string={"q": "步行街"}).get_data(as_text=True)
    assert f'data-case="{r.case_number}"' in html


def test_a_term_with_more_hits_than_the_cap_is_counted_as_cap_plus_and_listed_newest_first(
        client, token, monkeypatch, as_role):
    from app.reports import search

    monkeypatch.setattr(search, "COUNT_CAP", 3)
    cases = [report(f"井盖破损第{i}处") for i in range(5)]
    report("路灯不亮")
    body = client.get("/api/staff/cases", headers=token, query_string={"q": "井盖"}).get_json()
    assert (body["total"], body["total_capped"], body["counts"]) == (3, True, {})
    assert [i["case_number"] for i in body["items"]] == [c.case_number for c in reversed(cases)]  # newest first
    html = as_role("admin").get("/console/", query_string={"q": "井盖"}).get_data(as_text=True)
    assert "共 3+ 件" in html and "匹配过多" in html
    exact = client.get("/api/staff/cases", headers=token, query_string={"q": "井盖破损第2处"}).get_json()
    assert (exact["total"], exact["total_capped"], exact["counts"]) == (1, False, {"reported": 1})
