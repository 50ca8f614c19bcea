"""`flask crm backup` and `flask crm restore`: what each does, step by step."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy.engine import make_url

from app.backup.archive import (
    ARCHIVE_SUFFIX,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    POSTGRES_DUMP,
    SQLITE_DUMP,
    BackupError,
    HashingReader,
    new_archive_path,
    upload_files,
    utc_stamp,
    verified_archive,
)
from app.backup.databases import (
    backend_of,
    dump_postgres,
    dump_sqlite,
    engine,
    restore_postgres,
    restore_sqlite,
    tables_with_rows,
)
from app.extensions import db


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


def write_backup(target: Path) -> BackupResult:
    """Write one archive into `target`: a folder (a new dated name) or an archive file name.

    The archive is written under a temporary name and renamed when complete, so a crash never
    leaves a half archive that looks whole.
    """
    started = time.monotonic()
    now = datetime.now(UTC)
    url = make_url(str(engine().url))
    backend = backend_of(url)
    if target.suffix in (".gz", ".tgz") or target.name.endswith(ARCHIVE_SUFFIX):
        archive = target
    else:
        archive = new_archive_path(target, now)
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_name(archive.name + ".part")
    with tempfile.TemporaryDirectory(prefix="crm-backup-", dir=archive.parent) as work:
        dump_name = SQLITE_DUMP if backend == "sqlite" else POSTGRES_DUMP
        dump = Path(work) / dump_name
        if backend == "sqlite":
            counts, revision = dump_sqlite(url, dump)
        else:
            counts, revision = dump_postgres(url, dump)
        files: dict[str, dict[str, Any]] = {}
        try:
            with tarfile.open(partial, "w:gz", compresslevel=6) as tar:
                members = [(dump, dump_name), *upload_files(Path(current_app.config["UPLOAD_FOLDER"]))]
                for path, name in members:
                    try:
                        stream = path.open("rb")
                    except FileNotFoundError:  # deleted since it was listed: it belongs to no record now
                        continue
                    with stream:
                        info = tar.gettarinfo(fileobj=stream, arcname=name)
                        info.uid = info.gid = 0
                        info.uname = info.gname = ""
                        reader = HashingReader(stream)
                        tar.addfile(info, reader)
                    files[name] = {"sha256": reader.digest.hexdigest(), "size": reader.size}
                manifest = {
                    "format": FORMAT,
                    "format_version": FORMAT_VERSION,
                    "created_at": utc_stamp(now),
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
    url = make_url(str(engine().url))
    backend = backend_of(url)
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
        holding = tables_with_rows(engine())
        files_now = _files_in(uploads)
        if (holding or files_now) and not force:
            raise BackupError(_not_empty_message(holding, files_now, uploads))
        engine().dispose()
        if backend == "sqlite":
            restore_sqlite(url, verified)
        else:
            restore_postgres(url, verified)
        engine().dispose()
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
    """Counts and settings cached in Redis described the old database."""
    from app.domain import department_settings, request_counts

    for forget in (request_counts.forget, department_settings.forget):
        with contextlib.suppress(Exception):
            forget()
