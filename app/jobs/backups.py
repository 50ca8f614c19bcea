"""Backup jobs: the nightly one (looked for every few minutes by the scheduler) and the admin's
«Создать копию сейчас». Both run `app.backup.run_backup` in a worker, never in a web request.

The schedule is an interval job that asks "is the night's backup due?": a scheduler that was down
at BACKUP_HOUR still makes that night's backup when it comes back, and running the check twice
makes one backup (the status file says the slot is done; a Redis marker covers a queued one).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from app import backup
from app.jobs.context import in_app_context, job_queue

log = logging.getLogger(__name__)


def _nightly_job_id(slot: datetime) -> str:
    """One job id per backup folder and night: installations sharing a Redis stay apart."""
    folder = hashlib.sha256(str(backup.backup_folder().resolve()).encode()).hexdigest()[:16]
    return f"backup-nightly-{folder}-{int(slot.timestamp())}"


@in_app_context
def nightly_backup() -> str:
    """Periodic: queue the night's backup once BACKUP_HOUR has passed and it has not run yet."""
    slot = backup.nightly_backup_due(datetime.now(UTC))
    if slot is None:
        return "not due"
    queue = job_queue()
    job_id = _nightly_job_id(slot)
    with contextlib.suppress(NoSuchJobError):
        waiting = Job.fetch(job_id, connection=queue.connection).get_status()
        if waiting in (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED):
            return "already queued"
    queue.enqueue(
        make_backup,
        "schedule",
        job_id=job_id,
        job_timeout=int(current_app.config["BACKUP_TIMEOUT_SECONDS"]),
        result_ttl=24 * 3600,
    )
    log.info("nightly backup queued for the slot of %s", slot.isoformat())
    return "queued"


@in_app_context
def make_backup(trigger: str, user_id: int | None = None) -> dict[str, Any]:
    """Make one backup and record its outcome (trigger: "schedule" or "button"; the user who
    pressed the button, for the log)."""
    if trigger == "schedule" and backup.nightly_backup_due(datetime.now(UTC)) is None:
        return {"ok": True, "skipped": True}  # a second copy of the night's job: it already ran
    try:
        outcome = backup.run_backup(trigger)
    except backup.BackupRunning:
        log.info("backup (%s) skipped: another one is running", trigger)
        return {"ok": False, "skipped": True}
    if outcome["ok"]:
        log.info("backup (%s, user %s): %s, %s bytes", trigger, user_id, outcome["file"], outcome["size"])
    else:
        log.error("backup (%s, user %s) failed: %s %s", trigger, user_id, outcome["error"], outcome.get("detail", ""))
    return outcome


def queue_backup_now(user_id: int) -> bool:
    """The button: queue a backup for a worker. False when one is already being made; a RedisError
    when no worker can be reached."""
    if backup.is_running():
        return False
    job_queue().enqueue(
        make_backup,
        "button",
        user_id,
        job_timeout=int(current_app.config["BACKUP_TIMEOUT_SECONDS"]),
        result_ttl=24 * 3600,
    )
    return True
