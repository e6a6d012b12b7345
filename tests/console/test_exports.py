"""Case list exports (XLSX, CSV with BOM): same filters and scope as the list, formula injection defused, streamed."""

from __future__ import annotations

import csv
import io
import threading
import tracemalloc

from openpyxl import load_workbook

from app.reports import exports, queries
from app.reports.services import transition
from tests.console.console_bulk import insert_cases
from tests.console.test_console_staff_api import make_token
from tests.factories import actor, report


def test_the_case_list_downloads_as_csv_with_a_bom_and_chinese_headers(client, runner):
    token = make_token(runner, "platform", "--role", "dispatcher")
    r = report("路口有人摆摊卖水果", category_code="E0504")
    response = client.get("/api/staff/cases.csv", headers=token)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.is_streamed
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:3] == ["案件编号", "状态", "渠道"]
    assert rows[1][0] == r.case_number and rows[1][1] == "已上报" and rows[1][7] == "路口有人摆摊卖水果"


def test_the_xlsx_has_a_frozen_header_dates_and_the_list_filters(app, as_role):
    keep = report("井盖破损", category_code="C0102")
    report("路口有人摆摊卖水果", category_code="E0504")
    transition(keep.id, "register", actor("dispatcher"))
    response = as_role("dispatcher").get("/api/staff/cases.xlsx", query_string={"status": "registered"})
    assert response.status_code == 200 and "cases.xlsx" in response.headers["Content-Disposition"]
    ws = load_workbook(io.BytesIO(response.get_data()))["案件"]
    assert ws.freeze_panes == "A2" and ws["A1"].value == "案件编号"
    data = list(ws.iter_rows(min_row=2, values_only=True))
    assert [row[0] for row in data] == [keep.case_number]
    assert ws["L2"].is_date and ws["L2"].value.year >= 2026


def test_text_a_spreadsheet_would_run_is_exported_as_text(app, as_role):
    report("=HYPERLINK(\"http://evil.example/\",\"点我\")")
    report("+1+cmd|' /C calc'!A0 路口有人摆摊")
    c = as_role("admin")
    rows = list(csv.reader(io.StringIO(c.get("/api/staff/cases.csv").get_data().decode("utf-8-sig"))))
    assert sorted(r[7][:2] for r in rows[1:]) == ["'+", "'="]
    ws = load_workbook(io.BytesIO(c.get("/api/staff/cases.xlsx").get_data()))["案件"]
    values = [ws.cell(row=i, column=8) for i in (2, 3)]
    assert all(v.data_type == "s" and v.value.startswith("'") for v in values)


def test_a_handler_exports_only_their_departments_cases(app, as_role):
    mine = report("路口有人摆摊卖水果", category_code="E0504")
    other = report("井盖破损", category_code="C0102", lat=29.60, lng=106.55)
    transition(mine.id, "register", actor("dispatcher"))
    transition(mine.id, "dispatch", actor("dispatcher"), department_code="JB-S-GYQ")
    transition(other.id, "register", actor("dispatcher"))
    transition(other.id, "dispatch", actor("dispatcher"), department_code="JB-S-HXJ")
    text = as_role("handler").get("/api/staff/cases.csv").get_data().decode("utf-8-sig")
    assert mine.case_number in text and other.case_number not in text


def test_an_unknown_filter_code_is_a_400_before_any_byte_is_sent(client, runner):
    token = make_token(runner, "platform", "--role", "dispatcher")
    for path in ("/api/staff/cases.csv", "/api/staff/cases.xlsx"):
        response = client.get(path, headers=token, query_string={"department": "NOPE"})
        assert response.status_code == 400 and response.get_json()["error"] == "bad_filter"
        assert client.get(path, headers=token, query_string={"q": "x" * 101}).status_code == 400


def test_parallel_downloads_each_get_the_whole_file(app, runner):
    insert_cases(300)
    token = make_token(runner, "platform", "--role", "dispatcher")
    sizes, errors = [], []

    def fetch():
        try:
            body = app.test_client().get("/api/staff/cases.csv", headers=token).get_data()
            sizes.append(body.count(b"\n"))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=fetch) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and sizes == [301] * 4


def _peak_bytes(app, n_rows: int) -> int:
    f = queries.CaseFilter()
    tracemalloc.start()
    total = sum(len(chunk) for chunk in exports.cases_csv(f, actor("admin")))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert total > n_rows * 50
    return peak


def test_export_memory_does_not_grow_with_the_number_of_rows(app):
    insert_cases(6000, prefix="AA")  # three batches of rows already: the first full batch is in both figures
    small = _peak_bytes(app, 6000)
    insert_cases(12_000, prefix="BB", seed=8)
    large = _peak_bytes(app, 18_000)
    assert large < small * 1.25, (small, large)  # three times the rows, about the same peak
