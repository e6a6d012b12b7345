"""Benchmark: 1,000,000 cases with their trails over a year (PostgreSQL), then the assessment, the dashboard, a text
search, the map for one street and a 100,000-row export: p50/p99, plans (EXPLAIN ANALYZE) and peak memory.

The data is made by the database itself (INSERT … SELECT over generate_series: one multi-row statement per table),
so the million cases and their ~6 million trail entries take a few minutes, not hours. Case ids follow submission
times and trail entries are written in time order, as the app writes them; the trail is written around the session,
so the per-case rollup case_facts is then filled in one INSERT … SELECT (as migration facts0001 does).

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/baixing_bench .venv/bin/python bench/assessment_1m.py
    (--cases 1000000 --runs 20 --plans docs/bench/assessment_plans.txt; --drop drops the tables at the end;
     --reuse --only queries: the calls, then the pages and API answers through the app; --only pages: those alone;
     --reuse --only exports times the CSV and XLSX downloads beside openpyxl's write-only mode, the writer before)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import current_app
from sqlalchemy import event, inspect, select, text
from werkzeug.datastructures import MultiDict

from app import create_app
from app.citizens.auth import STAFF_SESSION_KEY
from app.citizens.models import StaffUser
from app.citizens.services import Actor
from app.citizens.sessions import start_session
from app.extensions import db
from app.reports import assessment_areas, assessment_departments, exports, queries
from app.reports import dashboard as dashboard_module
from app.reports.assessment import assess, summary
from app.reports.assessment_facts import trail_facts
from app.reports.case_facts import CaseFacts, rebuild
from app.reports.dashboard import dashboard
from app.reports.map_data import map_points
from app.reports.month_facts import CaseFactsAt, month_start, snapshot_month
from app.reports.periods import month, month_before
from app.seed import seed_reference
from bench.assessment_before import as_before
from bench.common import DEFAULT_PG, make_bench_app, pct, timed

PHRASES = [
    "路口有人摆摊卖水果", "井盖破损有安全隐患", "垃圾桶满了溢出", "墙上有小广告", "路灯晚上不亮",
    "绿化带被占用堆放杂物", "共享单车乱停挡住盲道", "工地夜间施工噪音扰民", "下雨后道路积水", "店铺占道经营",
    "人行道地砖松动", "废弃车辆占用车位",
]
ROADS = [
    "建新北路", "北城天街", "洋河一路", "观音桥步行街", "红旗河沟", "大石坝", "五里店", "鱼嘴镇正街", "寸滩", "郭家沱",
]

# Stage times of every case, then its status from them ("now" is the end of the year); one statement.
CASES_SQL = """
CREATE UNLOGGED TABLE bench_cases AS
WITH sub AS (
  SELECT now() - (random() * interval '365 days') AS t_sub FROM generate_series(1, :n)
), base AS (
  -- Case ids (and numbers) in submission order, as the app assigns them: a month's cases sit together in the
  -- table, as they do in a real one (random times on sequential ids would spread every month over all of it).
  SELECT row_number() OVER (ORDER BY t_sub) AS i, t_sub,
         random() AS r1, random() AS r2, random() AS r3, random() AS r4, random() AS r5, random() AS r6,
         (SELECT array_agg(id ORDER BY id) FROM departments) AS depts,
         (SELECT array_agg(id ORDER BY id) FROM grid_cells WHERE level >= 2) AS grids,
         (SELECT array_agg(id ORDER BY id) FROM categories WHERE parent_id IS NOT NULL) AS cats
  FROM sub
), stages AS (
  SELECT *,
         t_sub + (5 + r1 * 55) * interval '1 minute' AS t_reg,
         t_sub + (5 + r1 * 55) * interval '1 minute' + (3 + r2 * 50) * interval '1 minute' AS t_dis,
         depts[1 + (i % array_length(depts, 1))] AS dept,
         grids[1 + ((i / 7) % array_length(grids, 1))] AS grid,
         cats[1 + ((i / 3) % array_length(cats, 1))] AS cat,
         r3 < 0.04 AS cancelled, r4 < 0.08 AS rework, r5 < 0.05 AS supervised, r6 < 0.03 AS rerouted,
         r6 > 0.7 AS visited
  FROM base
), times AS (
  SELECT *,
         t_dis + interval '48 hours' AS deadline,
         t_dis + (1 + r3 * 70) * interval '1 hour' AS t_hand1,
         t_dis + (1 + r3 * 70) * interval '1 hour' + interval '5 hours' AS t_back,
         t_dis + (1 + r3 * 70) * interval '1 hour' + interval '20 hours' AS t_hand2
  FROM stages
)
SELECT *,
       CASE WHEN rework THEN t_hand2 ELSE t_hand1 END + interval '3 hours' AS t_ver,
       CASE WHEN rework THEN t_hand2 ELSE t_hand1 END + interval '6 hours' AS t_close
FROM times
"""
REPORTS_SQL = """
INSERT INTO reports (id, case_number, category_id, description, lat, lng, raw_lat, raw_lng, raw_crs, address,
  grid_id, department_id, status, channel, cancel_reason, deadline_at, overdue, version, submitted_at, dispatched_at,
  closed_at, updated_at)
SELECT c.i, 'BM' || lpad(c.i::text, 10, '0'), c.cat, (CAST(:phrases AS text[]))[1 + c.i % 12] || '（' || c.i || '）',
  g.min_lat + (g.max_lat - g.min_lat) * c.r4, g.min_lng + (g.max_lng - g.min_lng) * c.r5,
  g.min_lat + (g.max_lat - g.min_lat) * c.r4, g.min_lng + (g.max_lng - g.min_lng) * c.r5, 'wgs84',
  '江北区' || (CAST(:roads AS text[]))[1 + c.i % 10] || (c.i % 300) || '号', c.grid, c.dept, s.status,
  (ARRAY['wechat','wechat','wechat','open311','hotline','console'])[1 + c.i % 6],
  CASE WHEN c.cancelled THEN 'invalid' END,
  CASE WHEN NOT c.cancelled AND c.t_dis < now() THEN c.deadline END,
  s.status = 'dispatched' AND c.deadline < now(), 1, c.t_sub,
  CASE WHEN NOT c.cancelled AND c.t_dis < now() THEN c.t_dis END,
  CASE WHEN s.status = 'closed' THEN c.t_close END, s.updated
FROM bench_cases c JOIN grid_cells g ON g.id = c.grid
CROSS JOIN LATERAL (SELECT
  CASE WHEN c.cancelled THEN 'cancelled' WHEN c.t_close < now() THEN 'closed' WHEN c.t_ver < now() THEN 'verified'
       WHEN (CASE WHEN c.rework THEN c.t_hand2 ELSE c.t_hand1 END) < now()
            AND NOT (c.rework AND c.t_back < now() AND c.t_hand2 >= now()) THEN 'handled'
       WHEN c.t_dis < now() THEN 'dispatched' WHEN c.t_reg < now() THEN 'registered' ELSE 'reported' END AS status,
  LEAST(now(), GREATEST(c.t_sub, CASE WHEN c.cancelled THEN c.t_sub + interval '1 hour' ELSE c.t_close END))
    AS updated) s
ORDER BY c.i
"""
EVENTS_SQL = """
INSERT INTO report_events (report_id, seq, action, from_status, to_status, actor_kind, actor_name, data, created_at)
SELECT c.i, v.seq, v.action, NULL, 'x', 'staff', 'bench', v.data::json, v.at
FROM bench_cases c JOIN departments d ON d.id = c.dept CROSS JOIN LATERAL (VALUES
  (1, 'submit', c.t_sub, true, '{}'),
  (2, 'cancel', c.t_sub + interval '1 hour', c.cancelled, '{"reason": "invalid"}'),
  (3, 'register', c.t_reg, NOT c.cancelled, '{}'),
  (4, 'dispatch', c.t_dis, NOT c.cancelled AND c.rerouted, '{"department": "JB-CGJ"}'),
  (5, 'dispatch', c.t_dis + CASE WHEN c.rerouted THEN interval '20 minutes' ELSE interval '0' END, NOT c.cancelled,
     '{"department": "' || d.code || '"}'),
  (6, 'supervise', c.t_dis + interval '30 hours', NOT c.cancelled AND c.supervised, '{"deadline_at": null}'),
  (7, 'handle', c.t_hand1, NOT c.cancelled, '{}'),
  (8, 'send_back', c.t_back, NOT c.cancelled AND c.rework, '{}'),
  (9, 'handle', c.t_hand2, NOT c.cancelled AND c.rework, '{}'),
  (10, 'verify', c.t_ver, NOT c.cancelled, '{}'),
  (11, 'close', c.t_close, NOT c.cancelled, '{}'),
  (12, 'feedback', c.t_close + interval '2 days', NOT c.cancelled AND c.visited,
      CASE WHEN c.r2 < 0.8 THEN '{"rating": "satisfied", "resolved": true}'
           ELSE '{"rating": "dissatisfied", "resolved": true}' END)
) AS v(seq, action, at, keep, data)
WHERE v.keep AND v.at < now()
ORDER BY v.at  -- appended as they happen
"""


def generate(n: int) -> dict:
    """Make the cases and trails; returns the seconds each step took."""
    out = {}
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS bench_cases"))
        for name, sql, params in (
            ("stage times", CASES_SQL, {"n": n}),
            ("reports", REPORTS_SQL, {"phrases": PHRASES, "roads": ROADS}),
            ("report_events", EVENTS_SQL, {}),
        ):
            t0 = time.perf_counter()
            conn.execute(text(sql), params)
            out[name] = time.perf_counter() - t0
        conn.execute(text("SELECT setval(pg_get_serial_sequence('reports', 'id'), (SELECT max(id) FROM reports))"))
        conn.execute(text("DROP TABLE bench_cases"))
    out["case_facts"] = build_case_facts()
    t0 = time.perf_counter()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("reports", "report_events", "case_facts", "case_facts_at"):
            conn.execute(text(f"VACUUM ANALYZE {table}"))
    out["vacuum analyze"] = time.perf_counter() - t0
    return out


def build_case_facts() -> float:
    """The trail was written around the session (no flush hook): fill the rollup as migration facts0001 does, and
    the month-start snapshots the hook would have written for every month the trail spans."""
    t0 = time.perf_counter()
    CaseFacts.__table__.create(db.engine, checkfirst=True)
    CaseFactsAt.__table__.create(db.engine, checkfirst=True)
    with db.engine.begin() as conn:
        rebuild(conn)
        first, last = conn.execute(text("SELECT min(created_at), max(created_at) FROM report_events")).one()
        boundary = month_start(month_start(first) + timedelta(days=32))
        while boundary <= last:
            snapshot_month(conn, boundary)
            boundary = month_start(boundary + timedelta(days=32))
    return time.perf_counter() - t0


def rollup_current() -> bool:
    """Whether a previous run left case_facts filled and with today's columns (else it is built again)."""
    columns = {c["name"] for c in inspect(db.engine).get_columns("case_facts")} if inspect(
        db.engine).has_table("case_facts") else set()
    wanted = {c.name for c in CaseFacts.__table__.columns}
    return (wanted <= columns and inspect(db.engine).has_table("case_facts_at")
            and db.session.scalar(text("SELECT EXISTS (SELECT 1 FROM case_facts_at)")))


class Captured:
    """The SQL statements a call sends (to EXPLAIN ANALYZE them afterwards)."""

    def __init__(self):
        self.statements: list[tuple[str, object]] = []

    def __call__(self, conn, cursor, statement, parameters, context, executemany):
        self.statements.append((statement, parameters))


def explain(fn) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of every SELECT `fn` runs."""
    cap = Captured()
    event.listen(db.engine, "before_cursor_execute", cap)
    try:
        fn()
    finally:
        event.remove(db.engine, "before_cursor_execute", cap)
    plans = []
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        for statement, params in cap.statements:
            # The settings the call made for its transaction (REPORT_WORK_MEM, parallel plans) are made here too, in
            # the same order, so that each plan is the one the measured runs got.
            if statement.lstrip().startswith("SELECT set_config"):
                cur.execute(statement, params)
                continue
            reads_cases = any(t in statement for t in ("FROM reports", "FROM case_facts"))
            if not statement.lstrip().upper().startswith(("SELECT", "WITH")) or not reads_cases:
                continue
            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
            plans.append(statement.strip() + "\n" + "\n".join(r[0] for r in cur.fetchall()))
    finally:
        raw.close()
    return "\n\n".join(plans)


def with_trail_only(fn):
    """fn() with the assessment's facts aggregated from the trail alone (the reference the tests compare with)."""
    saved = assessment_departments.period_facts, assessment_areas.period_facts
    assessment_departments.period_facts = assessment_areas.period_facts = trail_facts
    try:
        return fn()
    finally:
        assessment_departments.period_facts, assessment_areas.period_facts = saved


def one_query_per_chart(fn):
    """fn() with the dashboard's charts grouped by one statement each (before GROUPING SETS)."""
    dashboard_module.ONE_PASS = False
    try:
        return fn()
    finally:
        dashboard_module.ONE_PASS = True


def as_request(fn):
    """fn() in a transaction of its own, as each API request or page view has (its SET LOCAL settings end with it)."""
    def call():
        try:
            return fn()
        finally:
            db.session.rollback()
    return call


def measure_queries(cases, m, admin, args, baselines=()) -> None:
    """p50/p99 of each call, each in its own transaction (each baseline in the same run, as many runs), then the plans
    of its statements; the finished month kept in Redis."""
    plans = []
    print(f"\nperiod {m.first}..{m.last}; {args.runs} runs each (after one warm-up)\n")
    print("| query | p50 ms | p99 ms |\n|---|---:|---:|")
    for name, fn in baselines:
        fn()
        samples = timed(as_request(fn), args.runs)
        db.session.rollback()
        print(f"| {name} | {pct(samples, 50) * 1000:.0f} | {pct(samples, 99) * 1000:.0f} |", flush=True)
    for name, fn in cases:
        fn()
        samples = timed(as_request(fn), args.runs)
        db.session.rollback()
        print(f"| {name} | {pct(samples, 50) * 1000:.0f} | {pct(samples, 99) * 1000:.0f} |", flush=True)
        plans.append(f"=== {name}\n" + explain(fn))
    current_app.config.update(ASSESSMENT_CACHE_TTL_S=3600, ASSESSMENT_LIVE_TTL_S=60)
    assess(m, "department", admin)  # computed once, then kept (a finished month)
    samples = timed(lambda: assess(m, "department", admin), args.runs)
    print(f"| assessment by department, finished month, kept in Redis | {pct(samples, 50) * 1000:.1f} | "
          f"{pct(samples, 99) * 1000:.1f} |", flush=True)
    Path(args.plans).write_text("\n\n".join(plans) + "\n", encoding="utf-8")
    print(f"\nplans written to {args.plans}")


def measure_pages(app, m, args) -> None:
    """The pages and API answers as a staff user gets them (the app's test client, a console session): routing,
    the computation, the template or JSON. Computed (nothing kept), then with the finished month kept in Redis."""
    user = db.session.scalar(select(StaffUser).where(StaffUser.username == "bench-admin"))
    if user is None:
        user = StaffUser(username="bench-admin", role="admin", password_hash="x", display_name="bench")
        db.session.add(user)
        db.session.commit()
    db.session.remove()  # the requests' own sessions and transactions, not this script's open one
    client = app.test_client()
    with client.session_transaction() as session:
        session[STAFF_SESSION_KEY] = start_session(user.id)
    month_arg = f"{m.first:%Y-%m}"
    pages = [
        ("page /console/dashboard?period=…", f"/console/dashboard?period={month_arg}"),
        ("API /api/staff/assessment?by=department", f"/api/staff/assessment?period={month_arg}&by=department"),
        ("API /api/staff/assessment?by=grid", f"/api/staff/assessment?period={month_arg}&by=grid"),
        ("page /console/assessment (by department)", f"/console/assessment?period={month_arg}"),
    ]

    def get(url):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)

    print("\n| page or API answer | computed p50 ms | p99 ms | finished month kept in Redis p50 ms | p99 ms |\n"
          "|---|---:|---:|---:|---:|")
    for name, url in pages:
        app.config.update(ASSESSMENT_CACHE_TTL_S=0, ASSESSMENT_LIVE_TTL_S=0)
        for _ in range(3):  # warm-up: the statements' pages back in shared buffers after the previous URL's
            get(url)
        cold = timed(lambda url=url: get(url), args.runs)
        app.config.update(ASSESSMENT_CACHE_TTL_S=3600, ASSESSMENT_LIVE_TTL_S=60)
        get(url)
        kept = timed(lambda url=url: get(url), args.runs)
        print(f"| {name} | {pct(cold, 50) * 1000:.0f} | {pct(cold, 99) * 1000:.0f} | {pct(kept, 50) * 1000:.0f} | "
              f"{pct(kept, 99) * 1000:.0f} |", flush=True)


def measure_exports(app, admin, rows: int, repeats: int = 3) -> None:
    """Time and peak Python heap of the downloads of `rows` cases, all in one run on the same rows: the rows alone
    (the database's share), CSV, the XLSX the app sends (app.reports.xlsx_writer; also at zlib level 1), and the
    libraries it was measured against: openpyxl's write-only mode (the app's writer before issue 14, kept below as
    the baseline) and XlsxWriter's constant_memory mode (when installed; it is not a dependency).

    Each is timed `repeats` times, round-robin (so that a burst of other work on a shared machine lands on all of them
    alike): the median and the fastest are printed; the peak heap is from one more pass under tracemalloc."""
    import statistics
    import zlib

    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.xml import LXML

    from app.reports import xlsx_writer

    def sheets():
        return [("案件", exports.CASE_COLUMNS, exports.case_rows(queries.CaseFilter(), admin, rows))]

    def chunks_of(write):
        with tempfile.TemporaryFile() as tmp:
            write(tmp)
            tmp.seek(0)
            while chunk := tmp.read(exports.CHUNK):
                yield chunk

    def openpyxl_write(tmp):  # exports.xlsx_stream before issue 14
        wb = Workbook(write_only=True)
        for title, columns, sheet_rows in sheets():
            ws = wb.create_sheet(title)
            ws.freeze_panes = "A2"
            header = []
            for name, _ in columns:
                cell = WriteOnlyCell(ws, value=name)
                cell.font = Font(bold=True)
                header.append(cell)
            ws.append(header)
            formats = [fmt for _, fmt in columns]
            for row in sheet_rows:
                out = []
                for value, fmt in zip(row, formats, strict=False):
                    if fmt and value is not None:
                        cell = WriteOnlyCell(ws, value=value)
                        cell.number_format = fmt
                        out.append(cell)
                    else:
                        out.append(exports.safe_text(value))
                ws.append(out)
        wb.save(tmp)

    def xlsxwriter_write(tmp):  # the same workbook with XlsxWriter, as its docs advise for large files
        import xlsxwriter

        wb = xlsxwriter.Workbook(tmp, {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
                                       "default_date_format": xlsx_writer.DATETIME_FORMAT, "nan_inf_to_errors": True})
        bold, formats = wb.add_format({"bold": True}), {}
        for title, columns, sheet_rows in sheets():
            ws = wb.add_worksheet(title)
            ws.freeze_panes(1, 0)
            for c, (name, _) in enumerate(columns):
                ws.write_string(0, c, name, bold)
            styles = [formats.setdefault(f, wb.add_format({"num_format": f})) if f else None for _, f in columns]
            for r, row in enumerate(sheet_rows, 1):
                for c, (value, style) in enumerate(zip(row, styles, strict=False)):
                    ws.write(r, c, exports.safe_text(value), style)  # write() per cell: write_row stops at an error
        wb.close()

    def level1(tmp):
        xlsx_writer.write_xlsx(tmp, [(t, c, ([exports.safe_text(v) for v in row] for row in r))
                                     for t, c, r in sheets()], compresslevel=1)

    try:
        import xlsxwriter

        xlsxwriter_name = f"XLSX, XlsxWriter {xlsxwriter.__version__} constant_memory"
    except ImportError:
        xlsxwriter_name = None
    limit_filter = queries.CaseFilter()
    app.config["EXPORT_MAX_ROWS"] = rows
    variants = [
        ("rows only (database + row building, nothing written)",
         lambda: ([f"{sum(1 for _ in exports.case_rows(limit_filter, admin, rows))} rows".encode()])),
        ("CSV", lambda: exports.cases_csv(limit_filter, admin)),
        (f"XLSX, app.reports.xlsx_writer (zlib level {xlsx_writer.COMPRESSLEVEL})",
         lambda: exports.cases_xlsx(limit_filter, admin)),
        ("XLSX, app.reports.xlsx_writer at zlib level 1", lambda: chunks_of(level1)),
        (f"XLSX, openpyxl write-only ({'lxml' if LXML else 'no lxml'}), the writer before", lambda: chunks_of(
            openpyxl_write)),
    ]
    if xlsxwriter_name:
        variants.append((xlsxwriter_name, lambda: chunks_of(xlsxwriter_write)))
    print(f"exports of {rows:,} rows, one run, {repeats} rounds (zlib {zlib.ZLIB_VERSION}); "
          f"load before: {os.getloadavg()[0]:.2f}", flush=True)
    times: dict[str, list[float]] = {name: [] for name, _ in variants}
    sizes: dict[str, int] = {}
    for _ in range(repeats):
        for name, stream in variants:
            t0 = time.perf_counter()
            sizes[name] = sum(len(c) for c in stream())
            times[name].append(time.perf_counter() - t0)
    base = statistics.median(next(t for name, t in times.items() if "openpyxl" in name))
    for name, stream in variants:
        tracemalloc.start()
        for _ in stream():
            pass
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        median = statistics.median(times[name])
        print(f"| export {rows:,} rows, {name} ({sizes[name] / 1e6:.1f} MB) | median {median:.1f} s, fastest "
              f"{min(times[name]):.1f} s ({median / base:.2f}× openpyxl) | peak Python heap {peak / 1e6:.1f} MB |",
              flush=True)
    print(f"load after: {os.getloadavg()[0]:.2f}", flush=True)


def main() -> None:
    """Generate, measure, print the table, write the plans."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--export-rows", type=int, default=100_000)
    parser.add_argument("--plans", default="docs/bench/assessment_plans.txt")
    parser.add_argument("--drop", action="store_true", help="drop every table afterwards (disk)")
    parser.add_argument("--reuse", action="store_true", help="measure the data a previous run generated")
    parser.add_argument("--only", choices=("all", "queries", "pages", "exports"), default="all",
                        help="exports: only the downloads (beside the writers they were measured against)")
    args = parser.parse_args()
    cfg = {"MAP_MAX_POINTS": 5000, "ASSESSMENT_CACHE_TTL_S": 0, "ASSESSMENT_LIVE_TTL_S": 0}
    if args.reuse:
        app = create_app({"APP_ENV": "testing", "REDIS_URL": "", "MEDIA_ROOT": tempfile.mkdtemp(),
                          "DATABASE_URL": os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG), **cfg})
    else:
        app = make_bench_app(**cfg)
    with app.app_context():
        if not args.reuse:
            seed_reference()
            t0 = time.perf_counter()
            steps = generate(args.cases)
            total = time.perf_counter() - t0
            print(f"generated {args.cases:,} cases in {total:.0f} s: "
                  + ", ".join(f"{k} {v:.0f} s" for k, v in steps.items()), flush=True)
        if args.reuse and not rollup_current():
            db.session.rollback()
            CaseFactsAt.__table__.drop(db.engine, checkfirst=True)
            CaseFacts.__table__.drop(db.engine, checkfirst=True)
            print(f"case_facts built in {build_case_facts():.0f} s", flush=True)
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE case_facts"))
                conn.execute(text("VACUUM ANALYZE case_facts_at"))
        counts = db.session.execute(text("SELECT (SELECT count(*) FROM reports), (SELECT count(*) FROM report_events), "
                                         "(SELECT count(*) FROM case_facts)"))
        print("cases {:,}, trail entries {:,}, case_facts rows {:,}".format(*counts.one()), flush=True)
        last = db.session.scalar(text("SELECT max(submitted_at) FROM reports"))
        m = month_before(month(last.year, last.month))
        admin = Actor(kind="staff", id=1, role="admin", name="bench")
        street = db.session.scalar(text("SELECT code FROM grid_cells WHERE level = 2 ORDER BY code LIMIT 1"))
        cases = [
            ("assessment, one month, by department", lambda: assess(m, "department", admin)),
            ("assessment, one month, by grid", lambda: assess(m, "grid", admin)),
            ("dashboard charts, one month", lambda: dashboard(admin, first=m.first, last=m.last)),
            ("dashboard headline (assessment summary), one month", lambda: summary(m, admin)),
            ("text search q=观音桥步行街15号 (~300 hits, first page + counts)", lambda: queries.list_cases(
                queries.CaseFilter.from_args(MultiDict({"q": "观音桥步行街15号"})), admin)),
            ("text search q=井盖破损 (1 case in 12 hits, first page + counts)", lambda: queries.list_cases(
                queries.CaseFilter.from_args(MultiDict({"q": "井盖破损"})), admin)),
            (f"map query, one street ({street})", lambda: map_points(
                queries.CaseFilter.from_args(MultiDict({"grid": street})), admin)),
        ]
        baselines = [
            ("baseline: assessment by department from the trail alone (no rollup)",
             lambda: with_trail_only(lambda: assess(m, "department", admin))),
            ("baseline: assessment by grid from the trail alone (no rollup)",
             lambda: with_trail_only(lambda: assess(m, "grid", admin))),
            ("baseline: assessment by department, the code before session 8",
             lambda: as_before(lambda: assess(m, "department", admin))),
            ("baseline: assessment by grid, the code before session 8",
             lambda: as_before(lambda: assess(m, "grid", admin))),
            ("baseline: dashboard charts, the code before session 8 (median by sorting the month)",
             lambda: as_before(lambda: dashboard(admin, first=m.first, last=m.last))),
            ("baseline: dashboard charts, one GROUP BY per chart",
             lambda: one_query_per_chart(lambda: dashboard(admin, first=m.first, last=m.last))),
        ]
        if args.only in ("all", "queries"):
            measure_queries(cases, m, admin, args, baselines)
        if args.only in ("all", "queries", "pages"):
            measure_pages(app, m, args)
        if args.only in ("all", "exports"):
            measure_exports(app, admin, args.export_rows)
        if args.drop:
            db.session.remove()
            db.drop_all()
            print("tables dropped")


if __name__ == "__main__":
    main()
