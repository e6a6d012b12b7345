"""reports: every trail entry says who may read its note (public or internal)

Revision ID: view0001
Revises: bot0002
Create Date: 2026-12-02 06:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'view0001'
down_revision = 'bot0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('report_events') as batch_op:
        batch_op.add_column(sa.Column('visibility', sa.String(length=8), server_default='internal', nullable=False))
    # Notes written before visibility existed: the handling reply and the closing note were meant for the citizen.
    op.execute("UPDATE report_events SET visibility = 'public' WHERE action IN ('handle', 'close')")


def downgrade():
    with op.batch_alter_table('report_events') as batch_op:
        batch_op.drop_column('visibility')
