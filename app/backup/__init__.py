"""Backups: one archive holds a consistent database dump, the uploaded files and a manifest.

The manifest names the schema revision, the row count of every table and the SHA-256 of every
file in the archive (the dump included). A restore checks all of it before it touches anything,
then replaces the database in one step (SQLite's backup API; one psql transaction for
PostgreSQL), so a damaged archive or a failed restore leaves the installation as it was.

`archive` is the format, `databases` the two kinds of dump, `commands` what `flask crm backup`
and `flask crm restore` do, `status` what the nightly job, the admin's page and /health share.
"""

from app.backup.archive import ARCHIVE_NAME, BackupError, kept_archives, verified_archive
from app.backup.commands import BackupResult, RestoreResult, restore_backup, write_backup
from app.backup.status import (
    BackupRunning,
    apply_retention,
    backup_folder,
    backup_health,
    is_running,
    last_slot,
    nightly_backup_due,
    read_status,
    run_backup,
)

__all__ = [
    "ARCHIVE_NAME",
    "BackupError",
    "BackupResult",
    "BackupRunning",
    "RestoreResult",
    "apply_retention",
    "backup_folder",
    "backup_health",
    "is_running",
    "kept_archives",
    "last_slot",
    "nightly_backup_due",
    "read_status",
    "restore_backup",
    "run_backup",
    "verified_archive",
    "write_backup",
]
