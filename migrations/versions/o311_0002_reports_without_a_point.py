"""open311: address-only requests are cases without a point, flagged for the dispatcher to place (needs_location)

Revision ID: o3110002
Revises: o3110001
Create Date: 2026-12-02 07:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'o3110002'
down_revision = 'o3110001'
branch_labels = None
depends_on = None

# IS NOT NULL spelled out: a CHECK whose expression is NULL passes.
NEW_CHECK = ("(lat IS NOT NULL AND lng IS NOT NULL AND lat BETWEEN -90 AND 90 AND lng BETWEEN -180 AND 180) "
             "OR (lat IS NULL AND lng IS NULL AND needs_location)")
OLD_CHECK = "lat BETWEEN -90 AND 90 AND lng BETWEEN -180 AND 180"


def upgrade():
    with op.batch_alter_table('reports') as batch_op:
        batch_op.add_column(sa.Column('needs_location', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.drop_constraint(op.f('ck_reports_coords_in_range'), type_='check')
        for column in ('lat', 'lng', 'raw_lat', 'raw_lng'):
            batch_op.alter_column(column, existing_type=sa.Float(), nullable=True)
        batch_op.create_check_constraint('coords_in_range', NEW_CHECK)


def downgrade():
    # Cases still without a point cannot go back to a schema that requires one: place them first.
    with op.batch_alter_table('reports') as batch_op:
        batch_op.drop_constraint(op.f('ck_reports_coords_in_range'), type_='check')
        for column in ('lat', 'lng', 'raw_lat', 'raw_lng'):
            batch_op.alter_column(column, existing_type=sa.Float(), nullable=False)
        batch_op.create_check_constraint('coords_in_range', OLD_CHECK)
        batch_op.drop_column('needs_location')
