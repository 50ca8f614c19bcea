"""The backup folder as the web and the scheduler see it: the outcome of each run in a status
file beside the archives, retention, one backup at a time, the nightly slot and /health."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy.exc import SQLAlchemyError

from app.backup.archive import BackupError, kept_archives, utc_stamp
from app.backup.commands import write_backup

STATUS_FILE = "status.json"


def backup_folder() -> Path:
    return Path(current_app.config["BACKUP_FOLDER"])


def apply_retention(keep: int, folder: Path | None = None) -> list[Path]:
    """Delete all but the newest `keep` archives; returns what was deleted."""
    removed = kept_archives(folder or backup_folder())[max(keep, 1) :]
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
        status["running"] = {"trigger": trigger, "started_at": utc_stamp(started)}
        _write_status(folder, status)
        outcome: dict[str, Any] = {"trigger": trigger, "started_at": utc_stamp(started)}
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
        outcome["finished_at"] = utc_stamp(datetime.now(UTC))
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
    """For /health: not ok when backups are enabled and the last scheduled (nightly) one failed,
    or the last good nightly one is older than BACKUP_MAX_AGE_HOURS (two days). A backup made by
    the button or the command judges nothing: a good one the next morning must not hide a nightly
    schedule that fails. Before the first nightly run there is nothing to judge (the nightly job
    makes one at its first tick)."""
    config = current_app.config
    if not config.get("BACKUP_ENABLED"):
        return True, {"enabled": False}
    now = now or datetime.now(UTC)
    status = read_status()
    scheduled = status.get("last_scheduled") or {}
    detail: dict[str, Any] = {
        "enabled": True,
        "last_scheduled_at": scheduled.get("finished_at"),
        "last_success_at": (status.get("last_success") or {}).get("finished_at"),
    }
    if not scheduled:
        detail["state"] = "none yet"
        return True, detail
    if not scheduled.get("ok"):
        detail |= {"state": "failed", "error": scheduled.get("error"), "failed_at": scheduled.get("finished_at")}
        return False, detail
    finished = _parse_stamp(scheduled.get("finished_at"))
    max_age = timedelta(hours=float(config["BACKUP_MAX_AGE_HOURS"]))
    if finished is None or now - finished > max_age:
        detail["state"] = "too old"
        return False, detail
    detail["state"] = "ok"
    return True, detail
