"""facts: month-start snapshots of the rollup, return visits in the rollup, covering indexes for the dashboard

Revision ID: facts0003
Revises: facts0002
Create Date: 2026-12-03 12:30:00

- case_facts_at: a case's facts as of a local month's start, written by the flush hook when the case gets its first
  entry of a month (app/reports/month_facts.py). It starts empty: months before the upgrade are aggregated from
  the trail as before (exact either way).
- case_facts gets each case's return visits (feedback entries): the newest one's time, how many there are and how
  many were (basically) satisfied, filled from the trail; ix_case_facts_visits (n_visits, last_visit) finds a
  period's visits. The flush hook in app/reports/case_facts.py keeps them current from here on.
- ix_reports_submitted_at carries what the dashboard groups and counts (status, category, department, point,
  overdue flag, closing time): a month's charts and its median time to close are index-only scans (PostgreSQL).

On SQLite (no INCLUDE) ix_reports_submitted_at stays the plain index it was.
"""

import sqlalchemy as sa
from alembic import op


revision = "facts0003"
down_revision = "facts0002"
branch_labels = None
depends_on = None

DASHBOARD = ["status", "category_id", "department_id", "lat", "lng", "overdue", "closed_at"]
SATISFIED = "('satisfied', 'basically_satisfied')"


FACTS = ("last_handle", "last_undo", "cancelled_at", "last_close", "last_unclose", "first_register",
         "first_dispatch")
COUNTS = ("n_dispatch", "n_rework", "n_supervise", "n_departments")


def upgrade():
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "case_facts_at",
        sa.Column("month_end", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("report_id", sa.Integer(), sa.ForeignKey("reports.id"), primary_key=True, autoincrement=False),
        *(sa.Column(name, sa.DateTime(timezone=True), nullable=True) for name in FACTS),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in COUNTS),
    )
    with op.batch_alter_table("case_facts") as batch:
        batch.add_column(sa.Column("last_visit", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("n_visits", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("n_satisfied", sa.Integer(), nullable=True))
    rating = "e.data ->> 'rating'" if postgres else "json_extract(e.data, '$.rating')"
    visits = (f"SELECT e.report_id, max(e.created_at) AS last_visit, count(*) AS n_visits, "
              f"count(CASE WHEN {rating} IN {SATISFIED} THEN 1 END) AS n_satisfied "
              "FROM report_events e WHERE e.action = 'feedback' GROUP BY e.report_id")
    if postgres:
        op.execute("UPDATE case_facts SET last_visit = v.last_visit, n_visits = v.n_visits, "
                   f"n_satisfied = v.n_satisfied FROM ({visits}) v WHERE v.report_id = case_facts.report_id")
    else:
        op.execute(f"UPDATE case_facts SET (last_visit, n_visits, n_satisfied) = (SELECT v.last_visit, v.n_visits, "
                   f"v.n_satisfied FROM ({visits}) v WHERE v.report_id = case_facts.report_id) WHERE report_id IN "
                   "(SELECT report_id FROM report_events WHERE action = 'feedback')")
    op.execute("UPDATE case_facts SET n_visits = 0, n_satisfied = 0 WHERE n_visits IS NULL")
    with op.batch_alter_table("case_facts") as batch:
        batch.alter_column("n_visits", existing_type=sa.Integer(), nullable=False)
        batch.alter_column("n_satisfied", existing_type=sa.Integer(), nullable=False)
    op.create_index("ix_case_facts_visits", "case_facts", ["n_visits", "last_visit"])
    if postgres:
        op.drop_index("ix_reports_submitted_at", table_name="reports")
        op.create_index("ix_reports_submitted_at", "reports", ["submitted_at"], postgresql_include=DASHBOARD)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_reports_submitted_at", table_name="reports")
        op.create_index("ix_reports_submitted_at", "reports", ["submitted_at"])
    op.drop_index("ix_case_facts_visits", table_name="case_facts")
    with op.batch_alter_table("case_facts") as batch:
        for column in ("n_satisfied", "n_visits", "last_visit"):
            batch.drop_column(column)
    op.drop_table("case_facts_at")
