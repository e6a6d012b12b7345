"""Case list exports (XLSX, CSV with BOM): same filters and scope as the list, formula injection defused, streamed."""

from __future__ import annotations

import csv
import io
import threading
import tracemalloc
import zipfile
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from app.extensions import db
from app.reports import exports, queries, xlsx_writer
from app.reports.models import Report
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
    pane = ws.sheet_view.pane
    assert (pane.ySplit, pane.xSplit, pane.state, pane.activePane) == (1, None, "frozen", "bottomLeft")
    assert [c.value for c in ws[1]] == [name for name, _ in exports.CASE_COLUMNS]  # every Chinese header, in order
    assert all(c.font.b for c in ws[1]) and not ws["A2"].font.b
    data = list(ws.iter_rows(min_row=2, values_only=True))
    assert [row[0] for row in data] == [keep.case_number]
    row = {name: cell for (name, _), cell in zip(exports.CASE_COLUMNS, ws[2], strict=True)}
    assert row["状态"].value == "已立案" and row["问题描述"].value == "井盖破损" and row["是否超期"].value == "否"
    assert isinstance(row["纬度"].value, float) and row["纬度"].data_type == "n"
    # A date and time in Excel: a number with a date format, showing the local (Asia/Shanghai) time of the case.
    submitted = db.session.get(Report, keep.id).submitted_at
    local = submitted.astimezone(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None)
    assert row["上报时间"].is_date and row["上报时间"].number_format == "yyyy-mm-dd hh:mm:ss"
    assert abs(row["上报时间"].value - local) < timedelta(milliseconds=1)
    assert row["派遣时间"].value is None  # registered, not yet dispatched: an empty cell
    assert ws.column_dimensions["L"].width >= 19  # wide enough that Excel shows the time, not ####


def test_text_a_spreadsheet_would_run_is_exported_as_text(app, as_role):
    report("=HYPERLINK(\"http://evil.example/\",\"点我\")")
    report("+1+cmd|' /C calc'!A0 路口有人摆摊")
    c = as_role("admin")
    rows = list(csv.reader(io.StringIO(c.get("/api/staff/cases.csv").get_data().decode("utf-8-sig"))))
    assert sorted(r[7][:2] for r in rows[1:]) == ["'+", "'="]
    raw = c.get("/api/staff/cases.xlsx").get_data()
    ws = load_workbook(io.BytesIO(raw))["案件"]
    values = [ws.cell(row=i, column=8) for i in (2, 3)]
    assert all(v.data_type == "s" and v.value.startswith("'") for v in values)
    assert sorted(v.value[:2] for v in values) == ["'+", "'="]
    sheet = zipfile.ZipFile(io.BytesIO(raw)).read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in sheet and b"HYPERLINK" in sheet  # written as text, never as a formula


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


def _peak_bytes(app, n_rows: int, export) -> int:
    f = queries.CaseFilter()
    tracemalloc.start()
    total = sum(len(chunk) for chunk in export(f, actor("admin")))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert total > n_rows * 50
    return peak


@pytest.mark.parametrize("export", [exports.cases_csv, exports.cases_xlsx], ids=["csv", "xlsx"])
def test_export_memory_does_not_grow_with_the_number_of_rows(app, export):
    insert_cases(6000, prefix="AA")  # three batches of rows already: the first full batch is in both figures
    small = _peak_bytes(app, 6000, export)
    insert_cases(12_000, prefix="BB", seed=8)
    large = _peak_bytes(app, 18_000, export)
    assert large < small * 1.25, (small, large)  # three times the rows, about the same peak


def _book(sheets):
    raw = b"".join(exports.xlsx_stream(sheets))
    return raw, load_workbook(io.BytesIO(raw))


def test_the_xlsx_writer_keeps_types_formats_and_text_as_excel_needs_them():
    columns = [("名称", None), ("按期处置率", exports.RATE_FORMAT), ("综合得分", "0.00"), ("时间", None),
               ("其他", None)]
    rows = iter([
        ["观音桥街道", 0.25, Decimal("42.5"), datetime(2026, 11, 5, 14, 3, 7), date(2026, 11, 30)],
        ["  前后有空格 ", None, 7, None, time(8, 30)],
        ["控制字符\x08与\r回车 & <标签> _x0041_", 1, 88.125, datetime(2026, 1, 1), True],
        ["", float("nan"), -3, datetime(1999, 12, 31, 23, 59, 59, 500000), "多出的列被丢弃", "x"],
        ["-1+1", "=1+1", "@SUM(A1)", "+cmd", "\t制表"],
    ])
    raw, wb = _book([("综合评价", columns, rows), ("说明", [("项目", None), ("值", None)], [["权重 a", 0.4]])])
    assert wb.sheetnames == ["综合评价", "说明"]
    ws = wb["综合评价"]
    assert ws.freeze_panes == "A2" and wb["说明"].freeze_panes == "A2"
    assert [c.value for c in ws[1]] == [name for name, _ in columns] and all(c.font.b for c in ws[1])
    r2, r3, r4, r5, r6 = (list(ws[i]) for i in range(2, 7))
    assert r2[1].value == 0.25 and r2[1].number_format == "0.00%"  # a rate: a number Excel shows as 25.00%
    assert r2[2].value == 42.5 and r2[2].number_format == "0.00"
    assert r2[3].value == datetime(2026, 11, 5, 14, 3, 7) and r2[3].is_date
    assert r2[4].value == datetime(2026, 11, 30) and r2[4].number_format == "yyyy-mm-dd"
    assert r3[0].value == "  前后有空格 " and r3[1].value is None and r3[2].number_format == "0.00"
    assert r3[4].value == time(8, 30)
    assert r4[1].value == 1 and r4[1].number_format == "0.00%" and r4[2].value == 88.125 and r4[4].value is True
    assert r4[3].value == datetime(2026, 1, 1)
    # Characters XML cannot carry (and a carriage return) as Excel's _xHHHH_ escape; text already looking like
    # one has its underscore escaped, so that Excel shows it as written. (openpyxl reads the escapes as they are.)
    assert r4[0].value == "控制字符_x0008_与_x000D_回车 & <标签> _x005F_x0041_"
    assert r5[0].value is None and r5[1].value is None and r5[2].value == -3 and ws.max_column == len(columns)
    assert abs(r5[3].value - datetime(1999, 12, 31, 23, 59, 59, 500000)) < timedelta(milliseconds=1)
    assert [c.value for c in r6] == ["'-1+1", "'=1+1", "'@SUM(A1)", "'+cmd", "'\t制表"]
    assert wb["说明"]["B2"].value == 0.4
    names = zipfile.ZipFile(io.BytesIO(raw)).namelist()
    assert "[Content_Types].xml" in names and "xl/worksheets/sheet2.xml" in names


def test_the_xlsx_writer_refuses_what_excel_cannot_hold():
    with pytest.raises(ValueError, match="time zones"):
        _book([("案件", [("时间", None)], [[datetime(2026, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai"))]])])
    for title in ("a/b", "x" * 32, ""):
        with pytest.raises(ValueError, match="sheet title"):
            _book([(title, [("列", None)], [])])
    with pytest.raises(ValueError, match="sheet title"):
        _book([("同名", [("列", None)], []), ("同名", [("列", None)], [])])


def test_an_empty_export_is_a_workbook_with_the_header_only():
    _, wb = _book([("案件", exports.CASE_COLUMNS, [])])
    ws = wb["案件"]
    assert ws.max_row == 1 and ws["A1"].value == "案件编号" and ws.freeze_panes == "A2"


def test_column_letters():
    assert [xlsx_writer.column_letter(i) for i in (0, 25, 26, 701, 702, 16383)] == ["A", "Z", "AA", "ZZ", "AAA", "XFD"]
