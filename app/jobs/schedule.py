"""Periodic jobs as data, kept in rq-scheduler by the one active scheduler.

Each definition's job id is derived from the definition, so syncing is idempotent; a changed
interval replaces the old job, and a Redis that lost its data gets the jobs back at the next tick.
"""

from __future__ import annotations

import contextlib
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app
from redis.exceptions import RedisError
from rq_scheduler import Scheduler

from app.jobs import heartbeat
from app.jobs.backups import nightly_backup
from app.jobs.context import QUEUE_NAME
from app.jobs.radar import sweep_stalled_requests
from app.jobs.reminders import sweep_due_reminders

log = logging.getLogger(__name__)
PERIODIC_PREFIX = "periodic-"


@dataclass(frozen=True)
class PeriodicJob:
    func: Callable
    interval_setting: str  # the config key holding the interval in seconds

    def job_id(self, interval: int) -> str:
        return f"{PERIODIC_PREFIX}{self.func.__name__}-{interval}s"


PERIODIC_JOBS = [
    PeriodicJob(sweep_due_reminders, "REMINDER_SWEEP_SECONDS"),
    PeriodicJob(sweep_stalled_requests, "STALLED_RADAR_SECONDS"),
    # Looks every few minutes whether the night's backup (BACKUP_HOUR) is due; runs it once a day.
    PeriodicJob(nightly_backup, "BACKUP_CHECK_SECONDS"),
]


def sync_periodic_jobs(scheduler: Scheduler) -> None:
    wanted = {job.job_id(int(current_app.config[job.interval_setting])): job for job in PERIODIC_JOBS}
    for existing in scheduler.get_jobs():
        if existing.id.startswith(PERIODIC_PREFIX) and existing.id not in wanted:
            scheduler.cancel(existing)
            log.info("cancelled stale periodic job %s", existing.id)
    for job_id, job in wanted.items():
        if job_id not in scheduler:
            scheduler.schedule(
                scheduled_time=datetime.now(UTC),
                func=job.func,
                interval=int(current_app.config[job.interval_setting]),
                repeat=None,
                id=job_id,
                result_ttl=600,
            )
            log.info("scheduled periodic job %s", job_id)


class CrmScheduler(Scheduler):
    """rq-scheduler that re-syncs the periodic jobs on each tick it holds the lock for, and beats
    its own liveness key on every pass (app/jobs/heartbeat.py), standby or active."""

    heartbeat_window = 60

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("queue_name", QUEUE_NAME)
        super().__init__(*args, **kwargs)
        self.stop_requested = False
        self.on_beat: Callable[[], None] = lambda: None

    def heartbeat(self) -> None:
        super().heartbeat()
        heartbeat.beat(self.connection, "scheduler", self.name, self.heartbeat_window)
        self.on_beat()

    def register_death(self) -> None:
        with contextlib.suppress(RedisError):
            heartbeat.forget(self.connection, "scheduler", self.name)
        super().register_death()

    def _install_signal_handlers(self) -> None:
        """Stop on SIGTERM/SIGINT even while Redis is away (rq-scheduler's handler then raises)."""

        def stop(signum, frame):
            self.stop_requested = True
            self.log.info("Shutting down RQ scheduler...")
            with contextlib.suppress(RedisError):
                self.register_death()
                self.remove_lock()
            raise SystemExit()

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)

    def enqueue_jobs(self):
        sync_periodic_jobs(self)
        return super().enqueue_jobs()
