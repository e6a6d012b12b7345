"""asm: the indexes the assessment and the case-number search read (facts per case and action; updated_at)

Revision ID: asm0002
Revises: asm0001
Create Date: 2026-12-02 08:05:00
"""

from alembic import op

revision = "asm0002"
down_revision = "asm0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_report_events_facts", "report_events", ["report_id", "action", "created_at"])
    op.create_index("ix_reports_updated_at", "reports", ["updated_at"])
    if op.get_bind().dialect.name != "postgresql":
        op.create_index("ix_reports_case_number_trgm", "reports", ["case_number"])
        return
    op.create_index("ix_reports_case_number_trgm", "reports", ["case_number"], postgresql_using="gin",
                    postgresql_ops={"case_number": "gin_trgm_ops"})


def downgrade():
    op.drop_index("ix_reports_case_number_trgm", table_name="reports")
    op.drop_index("ix_reports_updated_at", table_name="reports")
    op.drop_index("ix_report_events_facts", table_name="report_events")
