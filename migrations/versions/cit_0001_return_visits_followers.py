"""reports: return visits (回访) of closed cases and followers of cases

Revision ID: cit0001
Revises: asm0002
Create Date: 2026-12-02 07:00:00

"""
from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision = 'cit0001'
down_revision = 'asm0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'return_visits',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('report_id', sa.Integer(), nullable=False),
        sa.Column('citizen_id', sa.Integer(), nullable=False),
        sa.Column('close_seq', sa.Integer(), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('asked_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('rating', sa.String(length=24), nullable=True),
        sa.Column('resolved', sa.Boolean(), nullable=True),
        sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('comment', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id']),
        sa.ForeignKeyConstraint(['report_id'], ['reports.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('report_id', 'citizen_id', 'close_seq'),
    )
    with op.batch_alter_table('return_visits') as batch_op:
        batch_op.create_index(batch_op.f('ix_return_visits_citizen_id'), ['citizen_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_return_visits_report_id'), ['report_id'], unique=False)
    op.create_table(
        'report_followers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('report_id', sa.Integer(), nullable=False),
        sa.Column('citizen_id', sa.Integer(), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id']),
        sa.ForeignKeyConstraint(['report_id'], ['reports.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('report_id', 'citizen_id'),
    )
    with op.batch_alter_table('report_followers') as batch_op:
        batch_op.create_index(batch_op.f('ix_report_followers_citizen_id'), ['citizen_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_report_followers_report_id'), ['report_id'], unique=False)


def downgrade():
    op.drop_table('report_followers')
    op.drop_table('return_visits')
