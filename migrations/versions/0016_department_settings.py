"""department settings: the stalled radar's days and reminders, set by the administrator

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08 04:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('department_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('stalled_after_days', sa.Integer(), nullable=False),
    sa.Column('stalled_radar_reminders', sa.Boolean(), nullable=False),
    sa.Column('changed_on', sa.DateTime(timezone=True), nullable=False),
    sa.Column('changed_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['changed_by_id'], ['ab_user.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade():
    op.drop_table('department_settings')
