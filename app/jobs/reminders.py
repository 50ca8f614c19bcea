"""Sending reminders: batches of due reminders over one SMTP connection, woken at their time.

The fast path is a job scheduled at a reminder's time that runs the sweep; the sweep also runs
every few seconds on its own, so a flushed Redis, a scheduler outage or a killed worker only
delays a reminder. Each reminder is claimed atomically before its e-mail, so no job, however
often it runs, sends one twice.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime

from flask import current_app
from redis.exceptions import RedisError

from app.domain import reminders as reminder_domain
from app.extensions import db, mail, redis_connection
from app.jobs.context import in_app_context, job_queue, job_scheduler
from app.jobs.mail import mail_configured, reminder_email, smtp_probe
from app.models.reminders import Reminder
from app.models.stamps import utcnow

log = logging.getLogger(__name__)


def _settings() -> tuple[float, list[float]]:
    config = current_app.config
    return float(config["REMINDER_CLAIM_LEASE_SECONDS"]), [float(d) for d in config["REMINDER_RETRY_DELAYS"]]


def _queued_marker(reminder_id: int) -> str:
    return f"crm:reminder-queued:{reminder_id}"


@in_app_context
def send_reminders(reminder_ids: list[int]) -> dict[str, int]:
    """Send the e-mails of those reminders that are due and not taken by another worker."""
    lease, retry_delays = _settings()
    with contextlib.suppress(RedisError):
        redis_connection().delete(*[_queued_marker(reminder_id) for reminder_id in reminder_ids])
    outcome = {"sent": 0, "failed": 0, "skipped": 0}
    connection = None
    with_email = mail_configured()
    try:
        for reminder_id in reminder_ids:
            now = utcnow()
            reminder = reminder_domain.claim(db.session, reminder_id, now, lease)
            if reminder is None:
                outcome["skipped"] += 1
                continue
            if not with_email:  # the claim gave the Agent its event; «Мои напоминания» shows it
                reminder_domain.mark_delivered_without_email(db.session, reminder, now)
                outcome["sent"] += 1
                continue
            try:
                if connection is None:
                    connection = mail.connect().__enter__()
                connection.send(reminder_email(reminder))
            except Exception as error:  # any SMTP or network problem: record it, retry later
                reason = f"{error.__class__.__name__}: {error}"
                _close(connection)
                connection = None
                retry_at = reminder_domain.mark_attempt_failed(db.session, reminder, now, reason, retry_delays)
                log.warning("reminder %s: attempt %s failed: %s", reminder_id, reminder.attempts, reason)
                if retry_at is not None:
                    wake_sweep_at(retry_at)
                outcome["failed"] += 1
                continue
            reminder_domain.mark_sent(db.session, reminder, now)
            outcome["sent"] += 1
            if outcome["sent"] == 1:
                _mail_server_is_back()
    finally:
        _close(connection)
    log.info("reminders: %s", outcome)
    return outcome


def _mail_server_is_back() -> None:
    """A send succeeded: reminders waiting for a retry need not wait for their back-off."""
    released = reminder_domain.release_waiting_retries(db.session, utcnow())
    if released:
        log.info("the mail server answers again: %s reminders waiting for a retry are due now", released)
        with contextlib.suppress(RedisError):
            job_queue().enqueue(sweep_due_reminders, result_ttl=600)


def _probe_mail_server_if_retries_wait() -> None:
    """While reminders wait for a retry, ask the mail server (at most every SMTP_PROBE_SECONDS,
    across all workers) whether it is back; if it is, they are all due now."""
    if not mail_configured() or not reminder_domain.any_waiting_for_retry(db.session, utcnow()):
        db.session.rollback()
        return
    db.session.rollback()
    every = max(1, int(current_app.config["SMTP_PROBE_SECONDS"]))
    try:
        if not redis_connection().set("crm:smtp-probe", 1, nx=True, ex=every):
            return
    except RedisError:
        return
    answers, answer = smtp_probe()
    if answers:
        _mail_server_is_back()
    else:
        log.info("mail server still unreachable: %s", answer)


def _close(connection) -> None:
    if connection is not None:
        with contextlib.suppress(Exception):
            connection.__exit__(None, None, None)


def send_reminder(reminder_id: int) -> str:
    """One reminder (the resend button, and tests): "sent", "failed: ..." or "not due or taken"."""
    outcome = send_reminders([reminder_id])
    if outcome["sent"]:
        return "sent"
    if outcome["failed"]:
        with contextlib.suppress(Exception):
            return f"failed: {db.session.get(Reminder, reminder_id, populate_existing=True).last_error}"
        return "failed"
    return "not due or taken"


@in_app_context
def sweep_due_reminders() -> int:
    """Queue every due reminder that was not sent, in batches; returns how many were queued."""
    lease, _ = _settings()
    config = current_app.config
    _probe_mail_server_if_retries_wait()
    ids = reminder_domain.due_reminder_ids(db.session, utcnow(), lease, config["REMINDER_SWEEP_BATCH"])
    db.session.rollback()
    if not ids:
        return 0
    queue = job_queue()
    pipeline = queue.connection.pipeline()
    for reminder_id in ids:
        # One queued job per reminder at a time; the claim makes any extra one harmless anyway.
        pipeline.set(_queued_marker(reminder_id), 1, nx=True, ex=max(int(lease), 1))
    fresh = [reminder_id for reminder_id, was_set in zip(ids, pipeline.execute(), strict=True) if was_set]
    size = int(config["REMINDER_SEND_BATCH"])
    for start in range(0, len(fresh), size):
        queue.enqueue(send_reminders, fresh[start : start + size], result_ttl=600)
    if fresh:
        log.info("sweep queued %s due reminders", len(fresh))
    return len(fresh)


def wake_sweep_at(when: datetime) -> None:
    """The fast path: run the sweep at this moment (one job per second, however many reminders).
    If Redis is unreachable now, the periodic sweep still finds the reminder."""
    when = reminder_domain.as_utc(when)
    try:
        job_scheduler().enqueue_at(when, sweep_due_reminders, job_id=f"sweep-at-{int(when.timestamp())}")
    except RedisError as error:
        log.warning("could not schedule a sweep at %s (%s); the periodic sweep covers it", when, error)


def schedule_reminder(reminder: Reminder) -> None:
    """Call after the reminder is committed."""
    wake_sweep_at(reminder.next_attempt_at)
