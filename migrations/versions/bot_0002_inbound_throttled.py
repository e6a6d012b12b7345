"""bot: inbound messages over the per-openid rate limit are marked throttled

Revision ID: bot0002
Revises: bot0001
Create Date: 2026-11-24 05:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'bot0002'
down_revision = 'bot0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('bot_inbound_messages') as batch_op:
        batch_op.add_column(sa.Column('throttled', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    with op.batch_alter_table('bot_inbound_messages') as batch_op:
        batch_op.drop_column('throttled')
