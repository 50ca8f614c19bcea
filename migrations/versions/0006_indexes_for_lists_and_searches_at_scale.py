"""indexes for lists and searches at scale

The organisations and contacts lists sort by name; a manager with scope "own" sees his organisations
and those where he has a request (both checks read indexes only) and lists his requests by status; the quick
search looks for a fragment anywhere in organization.search_text, which on PostgreSQL a trigram
index answers without reading the table. On SQLite that index exists only in name (a partial index
on no rows), so that the schema is the same as the models' everywhere.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 16:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_organization_name', 'organization', ['name', 'id'], unique=False)
    # With its id, so that the own-scope check on every organisation reads this index, not the table.
    op.create_index('ix_organization_responsible_visible', 'organization', ['responsible_id', 'id'], unique=False)
    op.create_index('ix_contact_full_name', 'contact', ['full_name', 'id'], unique=False)
    op.create_index(
        'ix_client_request_responsible_status', 'client_request', ['responsible_id', 'status', 'id'], unique=False
    )
    # "Has he a request there?": probed for one organisation, hashed for a whole list.
    op.create_index(
        'ix_client_request_org_responsible', 'client_request', ['organization_id', 'responsible_id'], unique=False
    )
    op.create_index(
        'ix_client_request_responsible_org', 'client_request', ['responsible_id', 'organization_id'], unique=False
    )
    op.create_index('ix_client_request_status_id', 'client_request', ['status', 'id'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        # A trusted extension since PostgreSQL 13: the database owner may create it.
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
    op.create_index(
        'ix_organization_search_text_trgm',
        'organization',
        ['search_text'],
        unique=False,
        postgresql_using='gin',
        postgresql_ops={'search_text': 'gin_trgm_ops'},
        sqlite_where=sa.text('0'),
    )


def downgrade():
    op.drop_index('ix_organization_search_text_trgm', table_name='organization')
    op.drop_index('ix_client_request_status_id', table_name='client_request')
    op.drop_index('ix_client_request_responsible_org', table_name='client_request')
    op.drop_index('ix_client_request_org_responsible', table_name='client_request')
    op.drop_index('ix_client_request_responsible_status', table_name='client_request')
    op.drop_index('ix_contact_full_name', table_name='contact')
    op.drop_index('ix_organization_responsible_visible', table_name='organization')
    op.drop_index('ix_organization_name', table_name='organization')
