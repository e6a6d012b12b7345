"""Downloads: the assessment and any filtered case list as XLSX or CSV (UTF-8 with BOM), streamed.

Memory stays flat: rows come from the database in batches (a server-side cursor on PostgreSQL), the XLSX writer
(app.reports.xlsx_writer: why not openpyxl or XlsxWriter is said there) compresses each batch of rows into a
temporary file as it comes, and the finished file is sent in chunks.
Text that a spreadsheet would run as a formula (=, +, -, @ first) is prefixed with an apostrophe.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterable, Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy.orm import aliased

from app.citizens.services import Actor
from app.extensions import db
from app.reports import queries
from app.reports.models import CHANNEL_LABELS, STATUS_LABELS, Category, Department, GridCell, Report
from app.reports.xlsx_writer import write_xlsx

CHUNK = 64 * 1024
BATCH = 2000
RATE_FORMAT = "0.00%"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

CASE_COLUMNS = [
    ("案件编号", None), ("状态", None), ("渠道", None), ("类别编码", None), ("类别", None), ("责任单位", None),
    ("网格", None), ("问题描述", None), ("地址", None), ("纬度", None), ("经度", None),
    ("上报时间", None), ("派遣时间", None), ("处置时限", None), ("结案时间", None), ("是否超期", None),
]  # plain values: datetimes get the writer's date-and-time format (xlsx_writer.DATETIME_FORMAT)
DEPARTMENT_COLUMNS = [
    ("key", "单位编码"), ("name", "单位名称"), ("due", "应处置数"), ("handled", "处置数"),
    ("handled_on_time", "按期处置数"), ("handled_late", "超期处置数"), ("overdue_open", "超期未处置数"),
    ("on_time_rate", "按期处置率"), ("handled_rate", "处置率"), ("rework", "返工数"), ("rework_rate", "返工率"),
    ("supervised", "督办数"), ("supervised_on_time", "督办按期完成数"), ("return_visits", "回访数"),
    ("satisfaction_rate", "满意率"), ("score", "综合得分"),
]
AREA_COLUMNS = [
    ("key", "编码"), ("name", "名称"), ("reported", "问题数"), ("registered", "立案数"), ("closed", "结案数"),
    ("closed_rate", "结案率"), ("closed_on_time", "按期结案数"), ("closed_on_time_rate", "按期结案率"),
]
CENTRE_LABELS = {
    "registered_on_time_rate": "按时立案率", "dispatched_on_time_rate": "按时派遣率", "dispatch_accuracy": "派遣准确率",
    "register_minutes": "立案时限（分钟）", "dispatch_minutes": "派遣时限（分钟）",
}


def safe_text(value):
    """A cell value a spreadsheet will show, not run (CSV/formula injection)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _local(value: datetime | None, tz: ZoneInfo):
    """A timestamp as naive local time (what a spreadsheet shows)."""
    return value.astimezone(tz).replace(tzinfo=None) if value is not None else None


def case_rows(f: queries.CaseFilter, actor: Actor, limit: int) -> Iterator[list]:
    """Every case of the filter (no paging), as export rows, fetched in batches."""
    tz = ZoneInfo(current_app.config.get("TIMEZONE", "Asia/Shanghai"))
    cat, dept, grid = aliased(Category), aliased(Department), aliased(GridCell)
    q = (
        queries.list_query(f, actor)
        .with_only_columns(
            Report.case_number, Report.status, Report.channel, cat.code, cat.name, dept.name, grid.name,
            Report.description, Report.address, Report.lat, Report.lng, Report.submitted_at, Report.dispatched_at,
            Report.deadline_at, Report.closed_at, Report.overdue,
            maintain_column_froms=False,
        )
        .select_from(Report)
        .outerjoin(cat, cat.id == Report.category_id)
        .outerjoin(dept, dept.id == Report.department_id)
        .outerjoin(grid, grid.id == Report.grid_id)
        .limit(limit)
        .execution_options(yield_per=BATCH)
    )
    for row in db.session.execute(q):
        yield [
            row[0], STATUS_LABELS.get(row[1], row[1]), CHANNEL_LABELS.get(row[2], row[2]), row[3], row[4], row[5],
            row[6], row[7], row[8], row[9], row[10], _local(row[11], tz), _local(row[12], tz), _local(row[13], tz),
            _local(row[14], tz), "是" if row[15] else "否",
        ]


def xlsx_stream(sheets: Iterable[tuple[str, list[tuple[str, str | None]], Iterable[list]]]) -> Iterator[bytes]:
    """Write (title, [(header, number format)], rows) sheets as XLSX (bold header row frozen at A2, the number
    format on that column's cells); yield the file in chunks."""
    safe = [(title, columns, ([safe_text(v) for v in row] for row in rows)) for title, columns, rows in sheets]
    with tempfile.TemporaryFile() as tmp:
        write_xlsx(tmp, safe)
        tmp.seek(0)
        while chunk := tmp.read(CHUNK):
            yield chunk


def csv_stream(columns: list[str], rows: Iterable[list]) -> Iterator[bytes]:
    """CSV in UTF-8 with a BOM (so Excel opens Chinese text right), yielded a few hundred rows at a time."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    yield "\ufeff".encode()
    writer.writerow(columns)
    for n, row in enumerate(rows, 1):
        writer.writerow(["" if v is None else safe_text(v) for v in row])
        if n % 500 == 0:
            yield buf.getvalue().encode("utf-8")
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode("utf-8")


def cases_xlsx(f: queries.CaseFilter, actor: Actor) -> Iterator[bytes]:
    """The filtered case list as an XLSX file."""
    limit = current_app.config["EXPORT_MAX_ROWS"]
    return xlsx_stream([("案件", CASE_COLUMNS, case_rows(f, actor, limit))])


def cases_csv(f: queries.CaseFilter, actor: Actor) -> Iterator[bytes]:
    """The filtered case list as CSV."""
    limit = current_app.config["EXPORT_MAX_ROWS"]
    return csv_stream([name for name, _ in CASE_COLUMNS], case_rows(f, actor, limit))


def assessment_xlsx(answer: dict) -> Iterator[bytes]:
    """An assessment answer (app.reports.assessment.assess) as an XLSX file: the rows, then the figures' basis."""
    spec = DEPARTMENT_COLUMNS if answer["by"] == "department" else AREA_COLUMNS
    columns = [(label, RATE_FORMAT if key.endswith("_rate") else "0.00" if key == "score" else None)
               for key, label in spec]
    rows = [[row.get(key) for key, _ in spec] for row in answer["rows"]]
    period = answer["period"]
    notes = [
        ["统计周期", f"{period['date_from']} 至 {period['date_to']}（{period['timezone']}）"],
        ["综合得分公式", answer["formula"]],
        *[[f"权重 {k}", v] for k, v in answer["weights"].items()],
        *[[CENTRE_LABELS[k], answer["centre"][k]] for k in CENTRE_LABELS],
    ]
    return xlsx_stream([("综合评价", columns, rows), ("说明", [("项目", None), ("值", None)], notes)])
