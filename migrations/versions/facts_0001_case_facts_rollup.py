"""facts: case_facts, the per-case rollup of the trail the assessment reads (one row per case), backfilled; an
index of trail entries by action and time (return visits of a period); reports' updated_at index gains deadline_at

Revision ID: facts0001
Revises: mp0001
Create Date: 2026-12-02 12:40:00

The backfill is one INSERT … SELECT over report_events, with the same aggregation app/reports/case_facts.py keeps
current on every trail entry from then on (written out here so that this migration does not change with the app).
"""

import sqlalchemy as sa
from alembic import op


revision = "facts0001"
down_revision = "mp0001"
branch_labels = None
depends_on = None

BACKFILL = """
INSERT INTO case_facts (report_id, last_handle, last_undo, cancelled_at, last_close, last_unclose, first_register,
  first_dispatch, n_dispatch, n_rework, n_supervise, n_departments, last_event_at)
SELECT report_id,
  max(CASE WHEN action = 'handle' THEN created_at END),
  max(CASE WHEN action IN ('send_back', 'unresolved', 'reopen') THEN created_at END),
  max(CASE WHEN action IN ('cancel', 'mark_duplicate', 'invalidate') THEN created_at END),
  max(CASE WHEN action = 'close' THEN created_at END),
  max(CASE WHEN action IN ('reopen', 'unresolved') THEN created_at END),
  min(CASE WHEN action = 'register' THEN created_at END),
  min(CASE WHEN action = 'dispatch' THEN created_at END),
  count(CASE WHEN action = 'dispatch' THEN 1 END),
  count(CASE WHEN action IN ('send_back', 'unresolved') THEN 1 END),
  count(CASE WHEN action = 'supervise' THEN 1 END),
  count(DISTINCT CASE WHEN action = 'dispatch' THEN {department} END),
  max(created_at)
FROM report_events
GROUP BY report_id
"""


def upgrade():
    op.create_table(
        "case_facts",
        sa.Column("report_id", sa.Integer(), sa.ForeignKey("reports.id"), primary_key=True, autoincrement=False),
        sa.Column("last_handle", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_undo", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_close", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_unclose", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_register", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_dispatch", sa.DateTime(timezone=True), nullable=True),
        sa.Column("n_dispatch", sa.Integer(), nullable=False),
        sa.Column("n_rework", sa.Integer(), nullable=False),
        sa.Column("n_supervise", sa.Integer(), nullable=False),
        sa.Column("n_departments", sa.Integer(), nullable=False),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=False),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    department = "data ->> 'department'" if postgres else "json_extract(data, '$.department')"
    op.execute(BACKFILL.format(department=department))
    op.create_index("ix_case_facts_last_event_at", "case_facts", ["last_event_at"])
    op.create_index("ix_report_events_action_at", "report_events", ["action", "created_at"])
    op.create_index("ix_reports_updated_deadline", "reports", ["updated_at", "deadline_at"])
    op.drop_index("ix_reports_updated_at", table_name="reports")


def downgrade():
    op.create_index("ix_reports_updated_at", "reports", ["updated_at"])
    op.drop_index("ix_reports_updated_deadline", table_name="reports")
    op.drop_index("ix_report_events_action_at", table_name="report_events")
    op.drop_index("ix_case_facts_last_event_at", table_name="case_facts")
    op.drop_table("case_facts")
