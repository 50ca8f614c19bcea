"""Look-alike spellings of one company's name are refused as duplicates; different names are not."""

from __future__ import annotations

import pytest

from app.normalize import name_key, phone_digits
from tests.conftest import api_token

ORIGINAL = "ООО «Ромашка»"
LOOK_ALIKES = [
    "ооо  РОМАШКА",
    'ООО "Ромашка"',
    "ООО „Ромашка“",
    "ООО Ромашка",
    "ООО«Ромашка»",
    "ООО «Ро\u200bмашка»",  # zero-width space
    "ООО «Ромаш\u00adка»",  # soft hyphen
    "\ufeffООО «Ромашка»",  # byte-order mark pasted from a file
    "ООО «Рoмашка»",  # Latin o
    "OOO «Ромашка»",  # Latin capitals
    "ООО «PОМАШКА»",  # Latin P
    "ＯＯＯ «Ромашка»",  # full-width Latin
    "ООО «Рома́шка»",  # stress accent
]


@pytest.mark.parametrize("name", LOOK_ALIKES)
def test_look_alike_spellings_share_the_key(name):
    assert name_key(name) == name_key(ORIGINAL)


def test_yo_and_ye_are_one_letter_and_dashes_are_one_dash():
    assert name_key("ООО «Ёлка»") == name_key("ооо елка")
    assert name_key("Газ—Сервис") == name_key("Газ-Сервис")


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("ООО «Ромашка»", "АО «Ромашка»"),
        ("Ромашка-1", "Ромашка-2"),
        ("Бийск-Торг", "Биск-Торг"),
        ("Ромашка", "Ромашки"),
    ],
)
def test_different_companies_keep_different_keys(one, other):
    assert name_key(one) != name_key(other)


def test_phone_digits_read_full_width_digits_too():
    assert phone_digits("+7 (495) １２３-45-67") == "74951234567"


@pytest.mark.parametrize("name", ["ООО «Рoмашка»", "ООО «Ро\u200bмашка»", "ＯＯＯ «Ромашка»", "ооо «ромашка»"])
def test_the_api_refuses_a_look_alike_duplicate(app, client, name):
    headers = {"Authorization": f"Bearer {api_token(client, 'ivanov')}"}
    assert client.post("/api/v1/organization/", json={"name": ORIGINAL}, headers=headers).status_code == 201
    answer = client.post("/api/v1/organization/", json={"name": name}, headers=headers)
    assert answer.status_code == 422, answer.get_json()
    assert "уже существует" in str(answer.get_json())


def _migration_0008():
    import importlib.util
    from pathlib import Path

    path = next(Path(__file__).parents[1].glob("migrations/versions/0008_*.py"))
    spec = importlib.util.spec_from_file_location("migration_0008", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_migration_0008_recomputes_stored_keys_and_keeps_existing_look_alikes(app):
    from alembic.migration import MigrationContext
    from alembic.operations import Operations
    from sqlalchemy import insert, select

    from app.extensions import db
    from app.models import Organization

    migration = _migration_0008()
    names = ["ООО «Ромашка»", "ООО «Рoмашка»", "ООО «Ёлка»"]  # the second with a Latin o
    table = Organization.__table__
    with app.app_context(), db.engine.begin() as connection:
        rows = [
            {"name": name, "name_key": migration._previous_key(name), "search_text": name.casefold()} for name in names
        ]
        ids = [connection.execute(insert(table).values(**row).returning(table.c.id)).scalar_one() for row in rows]
        with Operations.context(MigrationContext.configure(connection)):
            migration.upgrade()
            keys = dict(connection.execute(select(table.c.id, table.c.name_key)).all())
            assert keys[ids[0]] == name_key(names[0])
            assert keys[ids[1]] == f"{name_key(names[1])}#dup{ids[1]}"  # kept, marked, still unique
            assert keys[ids[2]] == name_key("ооо елка")
            migration.downgrade()
            keys = dict(connection.execute(select(table.c.id, table.c.name_key)).all())
            assert [keys[pk] for pk in ids] == [migration._previous_key(name) for name in names]
