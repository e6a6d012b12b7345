"""The assessment through the staff API and the console: tokens and sessions, hostile parameters, the page."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from tests.assessment_example import build_example
from tests.console.test_console_staff_api import check, make_token


@pytest.fixture
def example(app):
    build_example()


@pytest.fixture
def token(runner):
    return make_token(runner, "yunguanfu", "--role", "dispatcher")


def test_the_api_answers_the_worked_example_with_the_contract_field_names(client, token, example):
    response = client.get("/api/staff/assessment", headers=token,
                          query_string={"by": "department", "date_from": "2026-11-01", "date_to": "2026-11-30"})
    body = check(response, "/assessment")
    assert body["by"] == "department" and body["period"]["date_from"] == "2026-11-01"
    hws = next(r for r in body["rows"] if r["key"] == "JB-HWS")
    assert (hws["due"], hws["handled"], hws["on_time_rate"], hws["score"]) == (8, 4, 0.25, 42.5)
    assert set(body["weights"]) >= {"on_time_rate", "handled_rate", "rework_free_rate"}


@pytest.mark.parametrize("by", ["street", "grid", "category", "channel"])
def test_every_area_grouping_answers_area_rows(client, token, example, by):
    body = check(client.get("/api/staff/assessment", headers=token, query_string={"by": by, "period": "2026-11"}),
                 "/assessment")
    assert body["rows"] and all(set(r) >= {"reported", "registered", "closed", "closed_rate"} for r in body["rows"])
    assert sum(r["reported"] for r in body["rows"]) == 10


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer bx_forged"}, {"Authorization": "Basic YWRtaW46YWRtaW4="}]
)
def test_without_a_valid_token_every_assessment_surface_is_401(client, headers):
    for path in ("/api/staff/assessment", "/api/staff/assessment.xlsx", "/api/staff/cases.xlsx",
                 "/api/staff/cases.csv"):
        assert client.get(path, headers=headers).status_code == 401, path


@pytest.mark.parametrize(
    "args",
    [{"by": "citizen"}, {"period": "2026-13"}, {"date_from": "2026-11-30", "date_to": "2026-11-01"},
     {"period": "2026-11", "date_to": "2026-11-02"}, {"by": "x" * 10_000}, {"date_from": "yesterday",
                                                                            "date_to": "today"}],
)
def test_bad_parameters_are_a_400_that_names_them(client, token, args):
    response = client.get("/api/staff/assessment", headers=token, query_string=args)
    body = check(response, "/assessment")
    assert response.status_code == 400 and body["error"] == "bad_filter"
    assert client.get("/api/staff/assessment.xlsx", headers=token, query_string=args).status_code == 400


def test_a_department_token_sees_only_its_own_row(client, runner, example):
    own = make_token(runner, "gyq-system", "--role", "handler", "--department", "JB-S-GYQ")
    body = client.get("/api/staff/assessment", headers=own, query_string={"period": "2026-11"}).get_json()
    assert [r["key"] for r in body["rows"]] == ["JB-S-GYQ"]


def test_the_console_page_shows_the_ranking_the_formula_and_a_download(as_role, example):
    html = as_role("dispatcher").get("/console/assessment?period=2026-11").get_data(as_text=True)
    assert html.index('data-key="JB-S-GYQ"') < html.index('data-key="JB-HWS"')
    assert "25.00%" in html and "42.50" in html and "Σ" in html and "按时派遣率" in html
    assert "/api/staff/assessment.xlsx?by=department&amp;date_from=2026-11-01&amp;date_to=2026-11-30" in html


def test_the_console_page_refuses_a_bad_period_with_400_and_says_why(as_role):
    response = as_role("dispatcher").get("/console/assessment?period=2026-99")
    assert response.status_code == 400 and "筛选条件有误" in response.get_data(as_text=True)


def test_the_assessment_downloads_as_xlsx_with_chinese_headers_frozen_and_rate_formats(as_role, example):
    response = as_role("admin").get("/api/staff/assessment.xlsx?period=2026-11")
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    assert "attachment" in response.headers["Content-Disposition"]
    wb = load_workbook(io.BytesIO(response.get_data()))
    ws = wb["综合评价"]
    header = [c.value for c in ws[1]]
    assert header[:4] == ["单位编码", "单位名称", "应处置数", "处置数"] and ws.freeze_panes == "A2"
    rows = {r[0].value: r for r in ws.iter_rows(min_row=2)}
    rate_cell = rows["JB-HWS"][header.index("按期处置率")]
    assert rate_cell.value == 0.25 and rate_cell.number_format == "0.00%"
    assert rows["JB-HWS"][header.index("综合得分")].value == 42.5
    notes = {r[0].value: r[1].value for r in wb["说明"].iter_rows(min_row=2)}
    assert notes["按时立案率"] == 0.8889 and "Σ" in notes["综合得分公式"]


def test_the_dashboard_period_picker_shows_the_assessments_numbers(as_role, example):
    import re

    c = as_role("dispatcher")
    html = c.get("/console/dashboard?period=2026-11").get_data(as_text=True)
    figures = dict(re.findall(r'data-k="(\w+)">([^<]+)<', html))
    # The worked example's November: 10 reported, 9 registered, 4 closed (docs/assessment.md, by=street).
    assert figures == {"reported": "10", "registered": "9", "closed": "4", "closed_rate": "44.44%",
                       "closed_on_time_rate": "33.33%"}
    assert re.search(r'id="total">共 10 件<', html)  # the charts count the same cases
    assert html.index('data-key="JB-S-GYQ"') < html.index('data-key="JB-HWS"')
    custom = c.get("/console/dashboard?date_from=2026-11-01&date_to=2026-11-05").get_data(as_text=True)
    assert re.search(r'data-k="reported">3<', custom)  # A1, B1 and A2 were reported by 5 November (local)
    for kind in ("day", "week", "month"):
        assert c.get(f"/console/dashboard?period={kind}").status_code == 200
    assert c.get("/console/dashboard?date_from=2026-11-05&date_to=2026-11-01").status_code == 400
