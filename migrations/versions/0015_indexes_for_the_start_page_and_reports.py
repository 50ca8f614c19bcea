"""indexes for the start page's event count and the reports' closings

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 02:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('agent_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agent_event_created_on'), ['created_on'], unique=False)
    with op.batch_alter_table('request_status_change', schema=None) as batch_op:
        batch_op.create_index(
            'ix_request_status_change_closing', ['new_value', 'changed_on', 'request_id'], unique=False
        )


def downgrade():
    with op.batch_alter_table('request_status_change', schema=None) as batch_op:
        batch_op.drop_index('ix_request_status_change_closing')
    with op.batch_alter_table('agent_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agent_event_created_on'))
