"""asm: text search over cases (pg_trgm GIN indexes on descriptions and addresses)

Revision ID: asm0001
Revises: sup0001 (the lead chains the heads at merge)
Create Date: 2026-12-02 06:45:00
"""

from alembic import op

revision = "asm0001"
down_revision = "sup0001"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        # SQLite searches with a plain LIKE; the same-named B-tree indexes keep the schema identical to the models.
        op.create_index("ix_reports_description_trgm", "reports", ["description"])
        op.create_index("ix_reports_address_trgm", "reports", ["address"])
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_index("ix_reports_description_trgm", "reports", ["description"], postgresql_using="gin",
                    postgresql_ops={"description": "gin_trgm_ops"})
    op.create_index("ix_reports_address_trgm", "reports", ["address"], postgresql_using="gin",
                    postgresql_ops={"address": "gin_trgm_ops"})


def downgrade():
    op.drop_index("ix_reports_address_trgm", table_name="reports")
    op.drop_index("ix_reports_description_trgm", table_name="reports")
