"""console: index for the case list's deadline sort

Revision ID: console0001
Revises: (chained at merge)
Create Date: 2026-11-24 00:50:00
"""

from alembic import op

revision = "console0001"
down_revision = "points0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_reports_deadline_at", "reports", ["deadline_at"], unique=False)


def downgrade():
    op.drop_index("ix_reports_deadline_at", table_name="reports")
