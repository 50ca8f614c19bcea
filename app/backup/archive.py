"""The archive itself: its format, its manifest, writing it and reading it back checked.

An archive is a tar.gz of the database dump, the upload folder under `uploads/` and
`manifest.json` (schema revision, row counts, size and SHA-256 of every file). Reading extracts
into a temporary folder and compares everything with the manifest before anyone uses it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from flask_babel import gettext as _

FORMAT = "zaptrade-crm-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SQLITE_DUMP = "database.sqlite3"
POSTGRES_DUMP = "database.sql"
UPLOADS = "uploads/"
ARCHIVE_PREFIX = "zaptrade-backup-"
ARCHIVE_SUFFIX = ".tar.gz"
ARCHIVE_NAME = re.compile(r"zaptrade-backup-\d{8}T\d{6}Z(-\d+)?\.tar\.gz")
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


class HashingReader(io.RawIOBase):
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


def utc_stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def quoted_table(table: str) -> str:
    if not _TABLE_NAME.fullmatch(table):
        raise BackupError(_("The archive names a table «%(table)s» that cannot exist.", table=table[:80]))
    return f'"{table}"'


def upload_files(folder: Path) -> list[tuple[Path, str]]:
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            found.append((path, UPLOADS + path.relative_to(folder).as_posix()))
    return found


def kept_archives(folder: Path) -> list[Path]:
    """The archives in the backup folder, newest first."""
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if ARCHIVE_NAME.fullmatch(p.name)), key=_archive_order, reverse=True)


def _archive_order(path: Path) -> tuple[str, int]:
    """By time, then by the number added to a second archive made in the same second."""
    match = ARCHIVE_NAME.fullmatch(path.name)
    number = match.group(1) if match else None
    return path.name[len(ARCHIVE_PREFIX) : len(ARCHIVE_PREFIX) + 16], int(number[1:]) if number else 1


def new_archive_path(folder: Path, now: datetime) -> Path:
    """A name that sorts after every archive already there, even two made in the same second."""
    stem = f"{ARCHIVE_PREFIX}{now.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    taken = [_archive_order(path)[1] for path in kept_archives(folder) if path.name.startswith(stem)]
    if not taken and not (folder / f"{stem}{ARCHIVE_SUFFIX}").exists():
        return folder / f"{stem}{ARCHIVE_SUFFIX}"
    return folder / f"{stem}-{max(taken, default=1) + 1}{ARCHIVE_SUFFIX}"


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


def damaged(reason: str) -> BackupError:
    return BackupError(_("The archive is damaged or incomplete and was not restored; nothing was changed."), reason)


def _safe_member_name(name: str) -> str:
    parts = Path(name).parts
    if name.startswith("/") or not parts or ".." in parts or "\\" in name:
        raise damaged(f"unsafe name in archive: {name!r}")
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
                        raise damaged(f"not a regular file: {member.name!r}")
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
            raise damaged(f"{error.__class__.__name__}: {error}") from error
        except OSError as error:
            if isinstance(error, FileNotFoundError | PermissionError):
                raise
            raise damaged(f"{error.__class__.__name__}: {error}") from error
        if MANIFEST not in found:
            raise BackupError(_("This file is not a ZapTrade CRM backup (it has no manifest); nothing was changed."))
        try:
            manifest = json.loads((work / MANIFEST).read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            raise damaged(f"manifest: {error}") from error
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
            raise damaged(f"missing: {missing[:5]}, not in the manifest: {extra[:5]}")
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
            raise damaged("the manifest names no database dump")
        for table in manifest.get("tables") or {}:
            quoted_table(table)
        yield VerifiedArchive(manifest=manifest, folder=work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
