"""look-alike organisation names share one duplicate key

organization.name_key now ignores invisible characters, quote and dash styles, full-width forms,
ё/е and Cyrillic/Latin look-alike letters (app/normalize.py). This data migration recomputes every
stored key. Organisations that already exist under look-alike names keep their rows: the oldest
keeps the plain key, each later one gets `<key>#dup<id>` (listed in the log) so the unique index
holds and a new look-alike is still refused.

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-02 00:40:00.000000

"""
import logging
import re

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0006'
branch_labels = None
depends_on = None

log = logging.getLogger('alembic.runtime.migration')
organization = sa.table('organization', sa.column('id', sa.Integer), sa.column('name', sa.String), sa.column('name_key', sa.String))
_SPACES = re.compile(r'\s+')


def _previous_key(name):
    """name_key as it was up to revision 0006: case and spacing only."""
    return _SPACES.sub(' ', (name or '').strip()).casefold()


def _rewrite(keys_for):
    """Set every organisation's key to keys_for(rows)[id], in two passes: first a temporary unique
    value for each row that changes, so that no row collides with another's old key midway."""
    connection = op.get_bind()
    rows = connection.execute(sa.select(organization.c.id, organization.c.name, organization.c.name_key).order_by(organization.c.id)).all()
    wanted = keys_for(rows)
    changed = [row for row in rows if wanted[row.id] != row.name_key]
    update = organization.update().where(organization.c.id == sa.bindparam('pk')).values(name_key=sa.bindparam('key'))
    if changed:
        connection.execute(update, [{'pk': row.id, 'key': f'#migrating#{row.id}'} for row in changed])
        connection.execute(update, [{'pk': row.id, 'key': wanted[row.id]} for row in changed])


def upgrade():
    from app.normalize import NAME_KEY_LENGTH, name_key

    def keys_for(rows):
        taken, wanted = set(), {}
        for row in rows:
            key = name_key(row.name)
            if key in taken:
                suffix = f'#dup{row.id}'
                log.warning('organisation %s «%s» has a look-alike name of an older one; its key is marked %s', row.id, row.name, suffix)
                key = key[: NAME_KEY_LENGTH - len(suffix)] + suffix
            taken.add(key)
            wanted[row.id] = key
        return wanted

    _rewrite(keys_for)


def downgrade():
    _rewrite(lambda rows: {row.id: _previous_key(row.name) for row in rows})
