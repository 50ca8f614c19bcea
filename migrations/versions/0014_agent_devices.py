"""agent devices: per-device Agent tokens

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 00:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('agent_device',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('agent_version', sa.String(length=32), nullable=False),
    sa.Column('created_on', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_on', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_on', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['ab_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('agent_device', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agent_device_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('agent_device', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agent_device_user_id'))

    op.drop_table('agent_device')
