"""reports: what the public may see of a case (screening result, a moderator's edit, hidden photos) and flags

Revision ID: mod0003
Revises: mod0002
Create Date: 2026-12-02 07:35:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'mod0003'
down_revision = 'mod0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('reports') as batch_op:
        batch_op.add_column(sa.Column('moderation', sa.String(length=12), server_default='clear', nullable=False))
        batch_op.add_column(sa.Column('moderation_reasons', sa.JSON(), server_default='[]', nullable=False))
        batch_op.add_column(sa.Column('public_description', sa.Text(), nullable=True))
    with op.batch_alter_table('report_photos') as batch_op:
        batch_op.add_column(sa.Column('hidden', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        'case_flags',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('report_id', sa.Integer(), nullable=False),
        sa.Column('reason', sa.String(length=16), nullable=False),
        sa.Column('note', sa.String(length=200), nullable=False),
        sa.Column('client', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('resolved_by', sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_case_flags_report_id_reports')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_case_flags')),
    )
    with op.batch_alter_table('case_flags') as batch_op:
        batch_op.create_index(batch_op.f('ix_case_flags_report_id'), ['report_id'], unique=False)


def downgrade():
    op.drop_table('case_flags')
    with op.batch_alter_table('report_photos') as batch_op:
        batch_op.drop_column('hidden')
    with op.batch_alter_table('reports') as batch_op:
        batch_op.drop_column('public_description')
        batch_op.drop_column('moderation_reasons')
        batch_op.drop_column('moderation')
