"""moderation: the city's own screening words on top of the shipped starter list

Revision ID: mod0001
Revises: view0001
Create Date: 2026-12-02 07:00:00

"""
from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision = 'mod0001'
down_revision = 'view0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'screen_words',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('word', sa.String(length=64), nullable=False),
        sa.Column('reason', sa.String(length=16), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_screen_words')),
        sa.UniqueConstraint('word', name=op.f('uq_screen_words_word')),
    )


def downgrade():
    op.drop_table('screen_words')
