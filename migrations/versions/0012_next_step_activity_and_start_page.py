"""next step and last activity of a request, the radar's claim, start page visits

A request gets the date and text of the manager's next action, the time of its last activity (a
status change, comment, document or item change: the stalled radar measures quiet from it; existing
requests start from their last change) and the quiet spell the radar has reminded of. Each user's
last start page visit tells what is new for him.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 00:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('client_request', sa.Column('next_step_on', sa.Date(), nullable=True))
    op.add_column('client_request', sa.Column('next_step_text', sa.String(length=200), nullable=True))
    op.add_column('client_request', sa.Column('last_activity_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('client_request', sa.Column('radar_reminded_for', sa.DateTime(timezone=True), nullable=True))
    op.execute('UPDATE client_request SET last_activity_at = changed_on')
    op.create_index(
        'ix_client_request_status_activity', 'client_request', ['status', 'last_activity_at'], unique=False
    )
    op.create_index('ix_client_request_next_step', 'client_request', ['next_step_on'], unique=False)
    op.create_table(
        'start_page_visit',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('previous_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['ab_user.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id'),
    )


def downgrade():
    op.drop_table('start_page_visit')
    op.drop_index('ix_client_request_next_step', table_name='client_request')
    op.drop_index('ix_client_request_status_activity', table_name='client_request')
    op.drop_column('client_request', 'radar_reminded_for')
    op.drop_column('client_request', 'last_activity_at')
    op.drop_column('client_request', 'next_step_text')
    op.drop_column('client_request', 'next_step_on')
