"""The two database kinds: a consistent dump of each, and loading it back in one step."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import IO

from flask_babel import gettext as _
from sqlalchemy import inspect, text
from sqlalchemy.engine import URL, Engine

from app.backup.archive import BackupError, VerifiedArchive, damaged, quoted_table
from app.extensions import db


def engine() -> Engine:
    return db.engine


def backend_of(url: URL) -> str:
    if url.get_backend_name() == "sqlite":
        return "sqlite"
    if url.get_backend_name() == "postgresql":
        return "postgresql"
    raise BackupError(_("Backups support SQLite and PostgreSQL databases only."))


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError(_("An in-memory SQLite database cannot be backed up."))
    return Path(url.database)


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """The database URI for pg_dump/psql without the password, which goes in PGPASSWORD instead
    of the command line (where `ps` would show it)."""
    env = {**os.environ}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _pg_tool(name: str) -> str:
    tool = shutil.which(name)
    if tool is None:
        raise BackupError(
            _(
                "%(tool)s is not installed: without it a PostgreSQL database can be neither backed up nor "
                "restored. Install the PostgreSQL client (Debian/Ubuntu: apt-get install postgresql-client) "
                "and retry.",
                tool=name,
            )
        )
    return tool


def _run_tool(command: list[str], env: dict[str, str], failure: str, stdin: IO[bytes] | None = None) -> None:
    finished = subprocess.run(command, env=env, stdin=stdin, capture_output=True, check=False)
    if finished.returncode != 0:
        raise BackupError(failure, finished.stderr.decode(errors="replace").strip()[-2000:])


def dump_sqlite(url: URL, target: Path) -> tuple[dict[str, int], str | None]:
    """Copy the live database through SQLite's online backup API (consistent while others write),
    then count the rows of the copy, so the counts describe exactly what was saved."""
    source_path = _sqlite_path(url)
    if not source_path.exists():
        raise BackupError(_("The database file %(path)s does not exist.", path=str(source_path)))
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
        tables = [
            row[0]
            for row in copy.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        counts = {table: copy.execute(f"SELECT count(*) FROM {quoted_table(table)}").fetchone()[0] for table in tables}
        revision = None
        if "alembic_version" in counts:
            row = copy.execute("SELECT version_num FROM alembic_version").fetchone()
            revision = row[0] if row else None
    finally:
        copy.close()
        source.close()
    return counts, revision


def dump_postgres(url: URL, target: Path) -> tuple[dict[str, int], str | None]:
    """pg_dump inside a snapshot exported by our own REPEATABLE READ transaction: the row counts
    of the manifest and the dump see the same moment of the database."""
    pg_dump = _pg_tool("pg_dump")
    uri, env = _libpq(url)
    with engine().connect().execution_options(isolation_level="REPEATABLE READ") as connection:
        snapshot = connection.execute(text("SELECT pg_export_snapshot()")).scalar_one()
        tables = connection.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
        ).scalars()
        counts = {
            table: connection.execute(text(f"SELECT count(*) FROM public.{quoted_table(table)}")).scalar_one()
            for table in list(tables)
        }
        revision = None
        if "alembic_version" in counts:
            revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        _run_tool(
            [
                pg_dump,
                "--format=plain",
                "--no-owner",
                "--no-privileges",
                "--no-comments",  # COMMENT ON EXTENSION needs the extension's owner to restore
                f"--snapshot={snapshot}",
                f"--file={target}",
                f"--dbname={uri}",
            ],
            env,
            _("pg_dump could not dump the database."),
        )
        connection.rollback()
    return counts, revision


def tables_with_rows(engine: Engine) -> list[str]:
    names = inspect(engine).get_table_names()
    holding = []
    with engine.connect() as connection:
        for table in sorted(names):
            if table == "alembic_version":
                continue
            if connection.execute(text(f"SELECT 1 FROM {quoted_table(table)} LIMIT 1")).first() is not None:
                holding.append(table)
    return holding


def restore_sqlite(url: URL, verified: VerifiedArchive) -> None:
    """Check the extracted copy's rows against the manifest, then copy it over the live database
    with the backup API: one write transaction, so a failure leaves the live file as it was."""
    expected = verified.manifest["tables"]
    source = sqlite3.connect(verified.database_file)
    try:
        if source.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise damaged("SQLite integrity check failed")
        for table, count in expected.items():
            if source.execute(f"SELECT count(*) FROM {quoted_table(table)}").fetchone()[0] != count:
                raise damaged(f"row count of {table} differs from the manifest")
        live_path = _sqlite_path(url)
        live_path.parent.mkdir(parents=True, exist_ok=True)
        live = sqlite3.connect(live_path, timeout=30)
        try:
            source.backup(live)
        except sqlite3.OperationalError as error:
            raise BackupError(
                _("The database is in use; stop the web server and the workers, then restore again."), str(error)
            ) from error
        finally:
            live.close()
    finally:
        source.close()


_EMPTY_PUBLIC_SCHEMA = """
SET lock_timeout = '20s';
SET client_min_messages = warning;
DO $crm$
DECLARE item record;
BEGIN
  FOR item IN SELECT viewname FROM pg_views WHERE schemaname = 'public' LOOP
    EXECUTE format('DROP VIEW IF EXISTS public.%I CASCADE', item.viewname);
  END LOOP;
  FOR item IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' LOOP
    EXECUTE format('DROP TABLE IF EXISTS public.%I CASCADE', item.tablename);
  END LOOP;
  FOR item IN SELECT sequence_name FROM information_schema.sequences WHERE sequence_schema = 'public' LOOP
    EXECUTE format('DROP SEQUENCE IF EXISTS public.%I CASCADE', item.sequence_name);
  END LOOP;
  FOR item IN SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
              WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd')
                AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = t.oid AND d.deptype = 'e') LOOP
    EXECUTE format('DROP TYPE IF EXISTS public.%I CASCADE', item.typname);
  END LOOP;
END
$crm$;
"""


def _row_count_check(tables: dict[str, int]) -> str:
    """SQL that fails the restore's transaction when a table's rows differ from the manifest."""
    lines = ["DO $crm$", "BEGIN"]
    for table, count in sorted(tables.items()):
        quoted = quoted_table(table)
        lines.append(
            f"  IF (SELECT count(*) FROM public.{quoted}) <> {int(count)} THEN "
            f"RAISE EXCEPTION 'row count of {table} differs from the manifest'; END IF;"
        )
    lines += ["END", "$crm$;"]
    return "\n".join(lines) + "\n"


def _without_newer_settings(dump: Path, engine: Engine) -> Path:
    """pg_dump 17 and newer write `SET transaction_timeout = 0;`, which an older server refuses:
    drop that one header line when this server predates it (the dump was verified already)."""
    with dump.open("rb") as stream:
        if b"SET transaction_timeout" not in stream.read(64 * 1024):
            return dump
    with engine.connect() as connection:
        server = int(connection.execute(text("SHOW server_version_num")).scalar_one())
    if server >= 170000:
        return dump
    adapted = dump.with_name(dump.name + ".adapted")
    with dump.open("rb") as source, adapted.open("wb") as target:
        for line in source:
            if not line.startswith(b"SET transaction_timeout"):
                target.write(line)
    return adapted


def restore_postgres(url: URL, verified: VerifiedArchive) -> None:
    """Empty the schema, load the dump and check every table's rows, all in ONE psql transaction:
    any error rolls all of it back and the database stays as it was."""
    psql = _pg_tool("psql")
    uri, env = _libpq(url)
    empty = verified.folder / "empty-schema.sql"
    empty.write_text(_EMPTY_PUBLIC_SCHEMA)
    check = verified.folder / "check-rows.sql"
    check.write_text(_row_count_check(verified.manifest["tables"]))
    dump = _without_newer_settings(verified.database_file, engine())
    command = [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction"]
    command += ["-f", str(empty), "-f", str(dump), "-f", str(check), f"--dbname={uri}"]
    finished = subprocess.run(command, env=env, capture_output=True, check=False)
    if finished.returncode != 0:
        error = finished.stderr.decode(errors="replace").strip()
        if "lock timeout" in error:
            raise BackupError(
                _("The database is in use; stop the web server and the workers, then restore again."), error[-2000:]
            )
        raise BackupError(_("psql could not load the dump; the database was left as it was."), error[-2000:])
