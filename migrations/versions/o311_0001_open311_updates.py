"""open311: updates posted through servicerequestupdates (FixMyStreet), unique per client and update id

Revision ID: o3110001
Revises: sec0001
Create Date: 2026-12-02 07:00:00

"""
from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision = 'o3110001'
down_revision = 'sec0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'open311_updates',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('client', sa.String(length=32), nullable=False),
        sa.Column('update_id', sa.String(length=64), nullable=False),
        sa.Column('report_id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.Integer(), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['event_id'], ['report_events.id'], name=op.f('fk_open311_updates_event_id_report_events')),
        sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_open311_updates_report_id_reports')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_open311_updates')),
        sa.UniqueConstraint('client', 'update_id', name=op.f('uq_open311_updates_client_update_id')),
    )
    with op.batch_alter_table('open311_updates') as batch_op:
        batch_op.create_index(batch_op.f('ix_open311_updates_report_id'), ['report_id'], unique=False)


def downgrade():
    with op.batch_alter_table('open311_updates') as batch_op:
        batch_op.drop_index(batch_op.f('ix_open311_updates_report_id'))
    op.drop_table('open311_updates')
