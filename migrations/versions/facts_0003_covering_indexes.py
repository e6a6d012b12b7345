"""facts: covering indexes for the dashboard and the assessment's return visits (PostgreSQL INCLUDE columns)

Revision ID: facts0003
Revises: facts0002
Create Date: 2026-12-03 12:30:00

- ix_reports_submitted_at carries what the dashboard groups and counts (status, category, department, point,
  overdue flag, closing time): a month's charts and its median time to close are index-only scans.
- ix_case_facts_department (report_id) INCLUDE (department_id): a period's return visits find each case's
  department in the index alone.

On SQLite (no INCLUDE) ix_reports_submitted_at stays the plain index it was; ix_case_facts_department is a plain
index on report_id there.
"""

from alembic import op


revision = "facts0003"
down_revision = "facts0002"
branch_labels = None
depends_on = None

DASHBOARD = ["status", "category_id", "department_id", "lat", "lng", "overdue", "closed_at"]


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_reports_submitted_at", table_name="reports")
        op.create_index("ix_reports_submitted_at", "reports", ["submitted_at"], postgresql_include=DASHBOARD)
    op.create_index("ix_case_facts_department", "case_facts", ["report_id"], postgresql_include=["department_id"])


def downgrade():
    op.drop_index("ix_case_facts_department", table_name="case_facts")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_reports_submitted_at", table_name="reports")
        op.create_index("ix_reports_submitted_at", "reports", ["submitted_at"])
