"""The background processes: `python worker.py worker` (RQ) and `python worker.py scheduler`.

Both run inside an application context, so jobs can use the database, mail and config.

Both outlive a Redis outage: RQ 3's worker retries a lost connection only while it waits for a
job, and rq-scheduler's loop not at all, so each loop runs inside `run_through_outages`, which waits
for Redis with growing pauses and starts the loop again. An outage is logged as one line when it
starts and one when it ends, not a traceback per retry.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import time
from collections.abc import Callable

from redis import Redis
from redis.exceptions import RedisError
from rq import Worker
from rq.exceptions import StopRequested

from app import create_app
from app.extensions import redis_connection
from app.jobs import heartbeat
from app.jobs.context import QUEUE_NAME
from app.jobs.schedule import CrmScheduler

log = logging.getLogger("crm.background")
MAX_PAUSE_SECONDS = 5.0  # a ping every 5 s at most while Redis is away: cheap, and reminders wait little


class OutageFilter(logging.Filter):
    """While Redis is away, RQ's and rq-scheduler's connection errors become one line per outage."""

    def __init__(self) -> None:
        super().__init__()
        self.in_outage = False

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        about_redis = isinstance(error, RedisError) or "could not connect to Redis" in record.getMessage()
        if not about_redis:
            return True
        if self.in_outage:
            return False
        self.in_outage = True
        record.exc_info = None  # the first line names the outage; the traceback says nothing more
        record.exc_text = None
        return True


OUTAGES = OutageFilter()


def back_in_touch(what: str) -> None:
    """Called after each successful heartbeat: closes the outage's log with one line."""
    if OUTAGES.in_outage:
        OUTAGES.in_outage = False
        log.warning("%s: Redis is back; going on", what)


def _quiet_redis_errors() -> None:
    for name in ("rq", "rq.worker", "rq_scheduler", "rq_scheduler.scheduler"):
        logging.getLogger(name).addFilter(OUTAGES)
    for handler in logging.getLogger().handlers:
        handler.addFilter(OUTAGES)


def _wait_for_redis(connection: Redis, what: str) -> None:
    """Block until Redis answers, pausing longer each time; one log line for the whole outage."""
    pause = 0.5
    started = None
    while True:
        try:
            connection.ping()
        except RedisError as error:
            if started is None:
                started = time.monotonic()
                if not OUTAGES.in_outage:
                    log.warning(
                        "%s: Redis unreachable (%s); retrying with pauses up to %ss", what, error, MAX_PAUSE_SECONDS
                    )
                OUTAGES.in_outage = True
            time.sleep(pause)
            pause = min(pause * 2, MAX_PAUSE_SECONDS)
            continue
        if started is not None or OUTAGES.in_outage:
            log.warning(
                "%s: Redis is back%s; going on", what, f" after {time.monotonic() - started:.0f} s" if started else ""
            )
        OUTAGES.in_outage = False
        return


def run_through_outages(what: str, connection: Redis, run_once: Callable[[], bool]) -> None:
    """Run the loop until it stops on request; a loop ended by Redis is started again."""
    while True:
        _wait_for_redis(connection, what)
        try:
            if run_once():
                return
        except RedisError as error:
            if not OUTAGES.in_outage:
                log.warning("%s: lost Redis (%s)", what, error.__class__.__name__)
            OUTAGES.in_outage = True
        # Between two runs a stop signal ends the process at once: nothing is in progress.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        time.sleep(0.5)


class CrmWorker(Worker):
    """An RQ worker that also beats its own liveness key (see app/jobs/heartbeat.py)."""

    heartbeat_window = 60
    max_connection_wait_time = MAX_PAUSE_SECONDS  # RQ's own retry while waiting for a job (default 60 s)

    def heartbeat(self, timeout=None, pipeline=None):
        super().heartbeat(timeout, pipeline)
        heartbeat.beat(self.connection, "worker", self.name, self.heartbeat_window)
        back_in_touch("worker")

    def register_death(self):
        with contextlib.suppress(RedisError):
            heartbeat.forget(self.connection, "worker", self.name)
        super().register_death()


def _stop_was_requested(worker: Worker) -> bool:
    """A SIGTERM/SIGINT reached RQ: an idle worker only dates the request (`_stop_requested` is
    set only when the signal finds it busy), and either way its loop must not be started again."""
    return worker._stop_requested or worker._shutdown_requested_date is not None


def run_worker(connection: Redis, window: int) -> None:
    def once() -> bool:
        # RQ waits for a job up to worker_ttl - 15 s and beats in between: beat twice per window.
        worker = CrmWorker(
            [QUEUE_NAME],
            connection=connection,
            worker_ttl=max(16, window // 2 + 15),
            job_monitoring_interval=max(1, window // 2),
        )
        worker.heartbeat_window = window
        try:
            worker.work(with_scheduler=False)
        except StopRequested:
            return True
        except RedisError:
            if _stop_was_requested(worker):  # asked to stop, and its clean-up could not reach Redis
                return True
            raise
        if _stop_was_requested(worker):
            return True
        # work() ends by itself only after an error it could not handle, in practice a lost Redis.
        connection.ping()
        log.warning("worker: the RQ loop ended (%s); starting it again", worker.get_state())
        return False

    run_through_outages("worker", connection, once)


def run_scheduler(connection: Redis, interval: float, window: int) -> None:
    def once() -> bool:
        scheduler = CrmScheduler(connection=connection, interval=interval)
        scheduler.heartbeat_window = window
        scheduler.on_beat = lambda: back_in_touch("scheduler")
        try:
            scheduler.run()
        except SystemExit:
            return True
        except RedisError:
            if scheduler.stop_requested:  # run()'s own clean-up could not reach Redis
                return True
            raise
        return scheduler.stop_requested

    run_through_outages("scheduler", connection, once)


def main(role: str) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    _quiet_redis_errors()
    app = create_app()
    with app.app_context():
        connection = redis_connection()
        window = heartbeat.window_seconds()
        if role == "worker":
            run_worker(connection, window)
        elif role == "scheduler":
            run_scheduler(connection, app.config["SCHEDULER_INTERVAL"], window)
        else:
            raise SystemExit(f"usage: {sys.argv[0]} worker|scheduler")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "worker")
