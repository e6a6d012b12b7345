"""sec: staff login failures are counted in Redis per (username, client); the per-account columns go

Revision ID: sec0001
Revises: mod0003
Create Date: 2026-12-02 07:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'sec0001'
down_revision = 'mod0003'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('staff_users') as batch_op:
        batch_op.drop_column('failed_logins')
        batch_op.drop_column('locked_until')


def downgrade():
    with op.batch_alter_table('staff_users') as batch_op:
        batch_op.add_column(sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('failed_logins', sa.Integer(), server_default='0', nullable=False))
