"""Backups: one archive holds a consistent database dump, the uploaded files and a manifest.

The manifest names the schema revision, the row count of every table and the SHA-256 of every
file in the archive (the dump included). A restore checks all of it before it touches anything,
then replaces the database in one step (SQLite's backup API; one psql transaction for
PostgreSQL), so a damaged archive or a failed restore leaves the installation as it was.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import inspect, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db

FORMAT = "zaptrade-crm-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SQLITE_DUMP = "database.sqlite3"
POSTGRES_DUMP = "database.sql"
UPLOADS = "uploads/"
ARCHIVE_PREFIX = "zaptrade-backup-"
ARCHIVE_SUFFIX = ".tar.gz"
ARCHIVE_NAME = re.compile(r"zaptrade-backup-\d{8}T\d{6}Z(-\d+)?\.tar\.gz")
STATUS_FILE = "status.json"
_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CHUNK = 1024 * 1024


class BackupError(Exception):
    """A backup or restore that did not happen; the message says why, in the user's language.

    `detail` keeps the technical text (a tool's error output) for the administrator.
    """

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


@dataclass
class BackupResult:
    path: Path
    size: int
    seconds: float
    backend: str
    tables: dict[str, int]
    files: int


@dataclass
class RestoreResult:
    backend: str
    schema_revision: str
    tables: dict[str, int]
    files: int
    seconds: float
    upgraded_to: str | None = None
    emptied: list[str] = field(default_factory=list)


# --- where things are -------------------------------------------------------------------------


def backup_folder() -> Path:
    return Path(current_app.config["BACKUP_FOLDER"])


def _engine() -> Engine:
    return db.engine


def _backend(url: URL) -> str:
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


# --- small helpers ------------------------------------------------------------------------------


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _HashingReader(io.RawIOBase):
    """A file read by tarfile while its SHA-256 is computed: each file is read once."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(size)
        self.digest.update(chunk)
        self.size += len(chunk)
        return chunk

    def readable(self) -> bool:
        return True


def _utc_stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _quoted(table: str) -> str:
    if not _TABLE_NAME.fullmatch(table):
        raise BackupError(_("The archive names a table «%(table)s» that cannot exist.", table=table[:80]))
    return f'"{table}"'


# --- making a backup ----------------------------------------------------------------------------


def _dump_sqlite(url: URL, target: Path) -> tuple[dict[str, int], str | None]:
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
        counts = {table: copy.execute(f"SELECT count(*) FROM {_quoted(table)}").fetchone()[0] for table in tables}
        revision = None
        if "alembic_version" in counts:
            row = copy.execute("SELECT version_num FROM alembic_version").fetchone()
            revision = row[0] if row else None
    finally:
        copy.close()
        source.close()
    return counts, revision


def _dump_postgres(url: URL, target: Path) -> tuple[dict[str, int], str | None]:
    """pg_dump inside a snapshot exported by our own REPEATABLE READ transaction: the row counts
    of the manifest and the dump see the same moment of the database."""
    pg_dump = _pg_tool("pg_dump")
    uri, env = _libpq(url)
    with _engine().connect().execution_options(isolation_level="REPEATABLE READ") as connection:
        snapshot = connection.execute(text("SELECT pg_export_snapshot()")).scalar_one()
        tables = connection.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
        ).scalars()
        counts = {
            table: connection.execute(text(f"SELECT count(*) FROM public.{_quoted(table)}")).scalar_one()
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


def _upload_files(folder: Path) -> list[tuple[Path, str]]:
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            found.append((path, UPLOADS + path.relative_to(folder).as_posix()))
    return found


def _new_archive_path(folder: Path, now: datetime) -> Path:
    """A name that sorts after every archive already there, even two made in the same second."""
    stem = f"{ARCHIVE_PREFIX}{now.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    taken = [_archive_order(path)[1] for path in kept_archives(folder) if path.name.startswith(stem)]
    if not taken and not (folder / f"{stem}{ARCHIVE_SUFFIX}").exists():
        return folder / f"{stem}{ARCHIVE_SUFFIX}"
    return folder / f"{stem}-{max(taken, default=1) + 1}{ARCHIVE_SUFFIX}"


def write_backup(target: Path | None = None) -> BackupResult:
    """Write one archive: into `target` (a folder or a file name), else into BACKUP_FOLDER.

    The archive is written under a temporary name and renamed when complete, so a crash never
    leaves a half archive that looks whole.
    """
    started = time.monotonic()
    now = datetime.now(UTC)
    url = make_url(str(_engine().url))
    backend = _backend(url)
    target = target or backup_folder()
    if target.suffix in (".gz", ".tgz") or target.name.endswith(ARCHIVE_SUFFIX):
        archive = target
    else:
        archive = _new_archive_path(target, now)
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_name(archive.name + ".part")
    with tempfile.TemporaryDirectory(prefix="crm-backup-", dir=archive.parent) as work:
        dump_name = SQLITE_DUMP if backend == "sqlite" else POSTGRES_DUMP
        dump = Path(work) / dump_name
        if backend == "sqlite":
            counts, revision = _dump_sqlite(url, dump)
        else:
            counts, revision = _dump_postgres(url, dump)
        files: dict[str, dict[str, Any]] = {}
        try:
            with tarfile.open(partial, "w:gz", compresslevel=6) as tar:
                members = [(dump, dump_name), *_upload_files(Path(current_app.config["UPLOAD_FOLDER"]))]
                for path, name in members:
                    try:
                        stream = path.open("rb")
                    except FileNotFoundError:  # deleted since it was listed: it belongs to no record now
                        continue
                    with stream:
                        info = tar.gettarinfo(fileobj=stream, arcname=name)
                        info.uid = info.gid = 0
                        info.uname = info.gname = ""
                        reader = _HashingReader(stream)
                        tar.addfile(info, reader)
                    files[name] = {"sha256": reader.digest.hexdigest(), "size": reader.size}
                manifest = {
                    "format": FORMAT,
                    "format_version": FORMAT_VERSION,
                    "created_at": _utc_stamp(now),
                    "backend": backend,
                    "schema_revision": revision,
                    "database_file": dump_name,
                    "tables": counts,
                    "files": files,
                }
                body = json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True).encode()
                info = tarfile.TarInfo(MANIFEST)
                info.size = len(body)
                info.mtime = int(now.timestamp())
                tar.addfile(info, io.BytesIO(body))
            os.replace(partial, archive)
        finally:
            partial.unlink(missing_ok=True)
    return BackupResult(
        path=archive,
        size=archive.stat().st_size,
        seconds=round(time.monotonic() - started, 2),
        backend=backend,
        tables=counts,
        files=len(files) - 1,
    )


# --- reading an archive back ------------------------------------------------------------------


@dataclass
class VerifiedArchive:
    manifest: dict[str, Any]
    folder: Path  # everything extracted and checked, inside a temporary folder

    @property
    def database_file(self) -> Path:
        return self.folder / self.manifest["database_file"]

    @property
    def uploads(self) -> Path:
        return self.folder / UPLOADS.rstrip("/")


def _damaged(reason: str) -> BackupError:
    return BackupError(_("The archive is damaged or incomplete and was not restored; nothing was changed."), reason)


def _safe_member_name(name: str) -> str:
    parts = Path(name).parts
    if name.startswith("/") or not parts or ".." in parts or "\\" in name:
        raise _damaged(f"unsafe name in archive: {name!r}")
    return Path(*parts).as_posix()


@contextlib.contextmanager
def verified_archive(archive: Path, work_parent: Path | None = None) -> Iterator[VerifiedArchive]:
    """Extract the archive into a temporary folder and check it against its manifest: every file
    listed, none added, every size and SHA-256 equal. Raises BackupError before anything is
    changed; the folder is removed afterwards."""
    if not archive.is_file():
        raise BackupError(_("There is no archive file %(path)s.", path=str(archive)))
    work_parent = work_parent or archive.parent
    work_parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="crm-restore-", dir=work_parent))
    try:
        found: dict[str, dict[str, Any]] = {}
        try:
            with tarfile.open(archive, "r:gz") as tar:
                for member in tar:
                    if member.isdir():
                        continue
                    if not member.isfile():
                        raise _damaged(f"not a regular file: {member.name!r}")
                    name = _safe_member_name(member.name)
                    destination = work / name
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    source = tar.extractfile(member)
                    digest = hashlib.sha256()
                    size = 0
                    with source, destination.open("wb") as out:
                        while chunk := source.read(_CHUNK):
                            digest.update(chunk)
                            size += len(chunk)
                            out.write(chunk)
                    found[name] = {"sha256": digest.hexdigest(), "size": size}
        except (tarfile.TarError, EOFError, zlib.error) as error:
            raise _damaged(f"{error.__class__.__name__}: {error}") from error
        except OSError as error:
            if isinstance(error, FileNotFoundError | PermissionError):
                raise
            raise _damaged(f"{error.__class__.__name__}: {error}") from error
        if MANIFEST not in found:
            raise BackupError(_("This file is not a ZapTrade CRM backup (it has no manifest); nothing was changed."))
        try:
            manifest = json.loads((work / MANIFEST).read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            raise _damaged(f"manifest: {error}") from error
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise BackupError(_("This file is not a ZapTrade CRM backup (it has no manifest); nothing was changed."))
        if manifest.get("format_version") != FORMAT_VERSION:
            raise BackupError(
                _(
                    "The archive was made by another version of the backup format (%(version)s); nothing was changed.",
                    version=manifest.get("format_version"),
                )
            )
        del found[MANIFEST]
        listed = manifest.get("files") or {}
        if set(found) != set(listed):
            missing = sorted(set(listed) - set(found))
            extra = sorted(set(found) - set(listed))
            raise _damaged(f"missing: {missing[:5]}, not in the manifest: {extra[:5]}")
        for name, expected in listed.items():
            if found[name] != {"sha256": expected.get("sha256"), "size": expected.get("size")}:
                raise BackupError(
                    _(
                        "The archive was altered: the checksum of %(name)s does not match its manifest. "
                        "Nothing was restored and nothing was changed.",
                        name=name,
                    ),
                    f"{name}: expected {expected}, found {found[name]}",
                )
        if manifest.get("database_file") not in found or manifest.get("backend") not in ("sqlite", "postgresql"):
            raise _damaged("the manifest names no database dump")
        for table in manifest.get("tables") or {}:
            _quoted(table)
        yield VerifiedArchive(manifest=manifest, folder=work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def describe(archive: Path) -> dict[str, Any]:
    """The checked manifest of an archive (for `flask crm restore --check`)."""
    with verified_archive(archive) as verified:
        return verified.manifest


# --- restoring ----------------------------------------------------------------------------------


def _tables_with_rows(engine: Engine) -> list[str]:
    names = inspect(engine).get_table_names()
    holding = []
    with engine.connect() as connection:
        for table in sorted(names):
            if table == "alembic_version":
                continue
            if connection.execute(text(f"SELECT 1 FROM {_quoted(table)} LIMIT 1")).first() is not None:
                holding.append(table)
    return holding


def _files_in(folder: Path) -> int:
    return sum(1 for path in folder.rglob("*") if path.is_file()) if folder.is_dir() else 0


def _known_revision(revision: str | None) -> str | None:
    """The migration head, after checking that this code knows the archive's revision."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(current_app.extensions["migrate"].migrate.get_config())
    if revision is None:
        raise BackupError(_("The archive does not say which schema revision it has; nothing was changed."))
    try:
        known = script.get_revision(revision)
    except Exception:  # alembic raises several kinds for an unknown id
        known = None
    if known is None:
        raise BackupError(
            _(
                "The archive comes from a newer version of ZapTrade CRM (schema %(revision)s). "
                "Update the program first; nothing was changed.",
                revision=revision,
            )
        )
    return script.get_current_head()


def _restore_sqlite(url: URL, verified: VerifiedArchive) -> None:
    """Check the extracted copy's rows against the manifest, then copy it over the live database
    with the backup API: one write transaction, so a failure leaves the live file as it was."""
    expected = verified.manifest["tables"]
    source = sqlite3.connect(verified.database_file)
    try:
        if source.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise _damaged("SQLite integrity check failed")
        for table, count in expected.items():
            if source.execute(f"SELECT count(*) FROM {_quoted(table)}").fetchone()[0] != count:
                raise _damaged(f"row count of {table} differs from the manifest")
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
        quoted = _quoted(table)
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


def _restore_postgres(url: URL, verified: VerifiedArchive) -> None:
    """Empty the schema, load the dump and check every table's rows, all in ONE psql transaction:
    any error rolls all of it back and the database stays as it was."""
    psql = _pg_tool("psql")
    uri, env = _libpq(url)
    empty = verified.folder / "empty-schema.sql"
    empty.write_text(_EMPTY_PUBLIC_SCHEMA)
    check = verified.folder / "check-rows.sql"
    check.write_text(_row_count_check(verified.manifest["tables"]))
    dump = _without_newer_settings(verified.database_file, _engine())
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


def _swap_uploads(extracted: Path, folder: Path) -> None:
    """Put the archive's files in place of the upload folder (renames on one file system)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    if not extracted.exists():
        extracted.mkdir(parents=True)
    previous = folder.with_name(folder.name + f".before-restore-{int(time.time())}")
    if folder.exists():
        os.replace(folder, previous)
    os.replace(extracted, folder)
    shutil.rmtree(previous, ignore_errors=True)


def restore_backup(archive: Path, force: bool = False) -> RestoreResult:
    """Restore an archive into this installation's database and upload folder.

    Refuses a damaged or altered archive, another database kind, a newer schema, and a database
    or upload folder that holds anything unless `force` (which empties them first).
    """
    started = time.monotonic()
    url = make_url(str(_engine().url))
    backend = _backend(url)
    uploads = Path(current_app.config["UPLOAD_FOLDER"])
    # Extract beside the upload folder, so the files are renamed into place, never copied.
    with verified_archive(archive, work_parent=uploads.parent) as verified:
        manifest = verified.manifest
        if manifest["backend"] != backend:
            raise BackupError(
                _(
                    "The archive holds a %(archive)s database, this installation uses %(current)s. "
                    "Restoring across database kinds is not supported; nothing was changed.",
                    archive=manifest["backend"],
                    current=backend,
                )
            )
        head = _known_revision(manifest.get("schema_revision"))
        db.session.remove()
        holding = _tables_with_rows(_engine())
        files_now = _files_in(uploads)
        if (holding or files_now) and not force:
            raise BackupError(_not_empty_message(holding, files_now, uploads))
        _engine().dispose()
        if backend == "sqlite":
            _restore_sqlite(url, verified)
        else:
            _restore_postgres(url, verified)
        _engine().dispose()
        _swap_uploads(verified.uploads, uploads)
        upgraded_to = None
        if head and head != manifest.get("schema_revision"):
            from flask_migrate import upgrade

            upgrade()
            upgraded_to = head
        _forget_caches()
        return RestoreResult(
            backend=backend,
            schema_revision=manifest.get("schema_revision"),
            tables=manifest["tables"],
            files=len(manifest["files"]) - 1,
            seconds=round(time.monotonic() - started, 2),
            upgraded_to=upgraded_to,
            emptied=holding,
        )


def _not_empty_message(holding: list[str], files: int, uploads: Path) -> str:
    parts = []
    if holding:
        # The client base first: "organization, client_request" says more than FAB's tables.
        first = ["organization", "client_request", "contact", "request_document", "reminder", "ab_user"]
        shown = sorted(holding, key=lambda table: (first.index(table) if table in first else len(first), table))
        parts.append(
            _(
                "the database holds data (%(count)d tables, among them %(tables)s)",
                count=len(holding),
                tables=", ".join(shown[:4]),
            )
        )
    if files:
        parts.append(_("the upload folder %(folder)s holds %(files)d files", folder=str(uploads), files=files))
    return _(
        "Restore refuses to overwrite existing data: %(what)s. Restore into an empty database, "
        "or add --force to empty it first.",
        what="; ".join(parts),
    )


def _forget_caches() -> None:
    """Counts cached in Redis described the old database."""
    from app.domain import request_counts

    with contextlib.suppress(Exception):
        request_counts.forget()


# --- the backup folder: archives, retention and the status the web reads ------------------------


def kept_archives(folder: Path | None = None) -> list[Path]:
    """The archives in the backup folder, newest first."""
    folder = folder or backup_folder()
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if ARCHIVE_NAME.fullmatch(p.name)), key=_archive_order, reverse=True)


def _archive_order(path: Path) -> tuple[str, int]:
    """By time, then by the number added to a second archive made in the same second."""
    match = ARCHIVE_NAME.fullmatch(path.name)
    number = match.group(1) if match else None
    return path.name[len(ARCHIVE_PREFIX) : len(ARCHIVE_PREFIX) + 16], int(number[1:]) if number else 1


def apply_retention(keep: int, folder: Path | None = None) -> list[Path]:
    """Delete all but the newest `keep` archives; returns what was deleted."""
    removed = kept_archives(folder)[max(keep, 1) :]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def read_status(folder: Path | None = None) -> dict[str, Any]:
    try:
        return json.loads(((folder or backup_folder()) / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _write_status(folder: Path, status: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / (STATUS_FILE + ".part")
    partial.write_text(json.dumps(status, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(partial, folder / STATUS_FILE)


class BackupRunning(BackupError):
    """Another backup holds the folder's lock."""


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            raise BackupRunning(_("A backup is already being made; wait until it finishes.")) from error
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def is_running(folder: Path | None = None) -> bool:
    try:
        with _folder_lock(folder or backup_folder()):
            return False
    except BackupRunning:
        return True
    except OSError:
        return False


def run_backup(trigger: str) -> dict[str, Any]:
    """Make a backup into BACKUP_FOLDER, keep BACKUP_KEEP archives, and record the outcome in the
    status file (for the admin's page and /health). Returns the recorded outcome; an error is
    recorded, not raised, except when another backup is running."""
    folder = backup_folder()
    with _folder_lock(folder):
        status = read_status(folder)
        started = datetime.now(UTC)
        status["running"] = {"trigger": trigger, "started_at": _utc_stamp(started)}
        _write_status(folder, status)
        outcome: dict[str, Any] = {"trigger": trigger, "started_at": _utc_stamp(started)}
        try:
            result = write_backup(folder)
            removed = apply_retention(int(current_app.config["BACKUP_KEEP"]), folder)
            outcome |= {
                "ok": True,
                "file": result.path.name,
                "size": result.size,
                "seconds": result.seconds,
                "removed": [path.name for path in removed],
                "error": None,
            }
        except BackupError as error:
            outcome |= {"ok": False, "error": error.message, "detail": error.detail}
        except SQLAlchemyError as error:
            outcome |= {
                "ok": False,
                "error": _("The database could not be read, so no backup was made."),
                "detail": f"{error.__class__.__name__}: {error}"[:2000],
            }
        except Exception as error:  # disk full, permissions...: recorded for the admin, never silent
            outcome |= {
                "ok": False,
                "error": _("The backup failed: %(reason)s", reason=f"{error.__class__.__name__}: {error}"),
                "detail": repr(error),
            }
        outcome["finished_at"] = _utc_stamp(datetime.now(UTC))
        status.pop("running", None)
        status["last"] = outcome
        if outcome["ok"]:
            status["last_success"] = outcome
        if trigger == "schedule":
            status["last_scheduled"] = outcome
        _write_status(folder, status)
        return outcome


def _parse_stamp(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def last_slot(now: datetime, hour: int, zone_name: str) -> datetime:
    """The most recent moment at which the nightly backup was due (BACKUP_HOUR, local time)."""
    from zoneinfo import ZoneInfo

    local = now.astimezone(ZoneInfo(zone_name))
    slot = local.replace(hour=hour % 24, minute=0, second=0, microsecond=0)
    if slot > local:
        slot -= timedelta(days=1)
    return slot.astimezone(UTC)


def nightly_backup_due(now: datetime) -> datetime | None:
    """The slot to run now, or None when today's scheduled backup already ran (or is not due)."""
    config = current_app.config
    if not config.get("BACKUP_ENABLED"):
        return None
    slot = last_slot(now, int(config["BACKUP_HOUR"]), config["DEFAULT_TIMEZONE"])
    last = _parse_stamp((read_status().get("last_scheduled") or {}).get("started_at"))
    if last is not None and last >= slot:
        return None
    return slot


def backup_health(now: datetime | None = None) -> tuple[bool, dict[str, Any]]:
    """For /health: not ok when backups are enabled and the last one failed, or the last good one
    is older than BACKUP_MAX_AGE_HOURS (two days). Before the first backup there is nothing to
    judge (the nightly job makes one at its first tick)."""
    config = current_app.config
    if not config.get("BACKUP_ENABLED"):
        return True, {"enabled": False}
    now = now or datetime.now(UTC)
    status = read_status()
    last = status.get("last") or {}
    success = status.get("last_success") or {}
    detail: dict[str, Any] = {"enabled": True, "last_success_at": success.get("finished_at")}
    if not last:
        detail["state"] = "none yet"
        return True, detail
    if not last.get("ok"):
        detail |= {"state": "failed", "error": last.get("error"), "failed_at": last.get("finished_at")}
        return False, detail
    finished = _parse_stamp(success.get("finished_at"))
    max_age = timedelta(hours=float(config["BACKUP_MAX_AGE_HOURS"]))
    if finished is None or now - finished > max_age:
        detail["state"] = "too old"
        return False, detail
    detail["state"] = "ok"
    return True, detail
