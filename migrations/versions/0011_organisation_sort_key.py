"""organisations sorted by their name without the legal form

The list used to sort by the full name, so every «АО» came before every «ООО». sort_key holds the name
without its legal form and quotes, lower-cased (app/models/clients.py `sort_key`), kept up to date by
the same flush listener as name_key; existing rows are filled here.

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-02 00:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    from app.models.clients import sort_key

    op.add_column('organization', sa.Column('sort_key', sa.String(length=255), server_default='', nullable=False))
    organization = sa.table('organization', sa.column('id', sa.Integer), sa.column('name', sa.String), sa.column('sort_key', sa.String))
    connection = op.get_bind()
    rows = connection.execute(sa.select(organization.c.id, organization.c.name)).all()
    for start in range(0, len(rows), 1000):
        batch = [{'org_id': row.id, 'key': sort_key(row.name)} for row in rows[start:start + 1000]]
        connection.execute(
            organization.update().where(organization.c.id == sa.bindparam('org_id')).values(sort_key=sa.bindparam('key')),
            batch,
        )
    op.create_index('ix_organization_sort_key', 'organization', ['sort_key', 'id'], unique=False)


def downgrade():
    op.drop_index('ix_organization_sort_key', table_name='organization')
    op.drop_column('organization', 'sort_key')
