"""citizens: the mini-program openid (and the account openid may be absent); reports: an anonymous reporter's phone

Revision ID: mp0001
Revises: cit0001
Create Date: 2026-12-02 07:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'mp0001'
down_revision = 'cit0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('citizens') as batch_op:
        batch_op.add_column(sa.Column('mp_openid', sa.String(length=64), nullable=True))
        batch_op.alter_column('openid', existing_type=sa.String(length=64), nullable=True)
        batch_op.create_unique_constraint('uq_citizens_mp_openid', ['mp_openid'])
    with op.batch_alter_table('reports') as batch_op:
        batch_op.add_column(sa.Column('contact_phone', sa.String(length=32), nullable=True))


def downgrade():
    with op.batch_alter_table('reports') as batch_op:
        batch_op.drop_column('contact_phone')
    op.execute("DELETE FROM citizens WHERE openid IS NULL")
    with op.batch_alter_table('citizens') as batch_op:
        batch_op.drop_constraint('uq_citizens_mp_openid', type_='unique')
        batch_op.alter_column('openid', existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_column('mp_openid')
