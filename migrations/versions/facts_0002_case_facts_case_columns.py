"""facts: case_facts carries a copy of the case columns the assessment selects and groups by (department, deadline,
submission time, grid, category, channel), filled from reports, with indexes on the deadline and submission time

Revision ID: facts0002
Revises: facts0001
Create Date: 2026-12-02 18:40:00

A period's cohort and its facts are then read from case_facts alone (app/reports/assessment_facts.py); the flush hook
in app/reports/case_facts.py keeps the copies current from here on.
"""

import sqlalchemy as sa
from alembic import op


revision = "facts0002"
down_revision = "facts0001"
branch_labels = None
depends_on = None

COLUMNS = ("department_id", "deadline_at", "submitted_at", "grid_id", "category_id", "channel")


def upgrade():
    with op.batch_alter_table("case_facts") as batch:
        batch.add_column(sa.Column("department_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("grid_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("category_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("channel", sa.String(length=16), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE case_facts SET " + ", ".join(f"{c} = r.{c}" for c in COLUMNS)
                   + " FROM reports r WHERE r.id = case_facts.report_id")
    else:
        op.execute("UPDATE case_facts SET (" + ", ".join(COLUMNS) + ") = (SELECT " + ", ".join(COLUMNS)
                   + " FROM reports WHERE reports.id = case_facts.report_id)")
    op.create_index("ix_case_facts_deadline_at", "case_facts", ["deadline_at"])
    op.create_index("ix_case_facts_submitted_at", "case_facts", ["submitted_at"])


def downgrade():
    op.drop_index("ix_case_facts_submitted_at", table_name="case_facts")
    op.drop_index("ix_case_facts_deadline_at", table_name="case_facts")
    with op.batch_alter_table("case_facts") as batch:
        for column in reversed(COLUMNS):
            batch.drop_column(column)
