"""Reminders that always arrive: real worker and scheduler processes, real Redis, real SMTP.

Intervals are shortened for the suite (scheduler tick 0.5 s, sweep every 1 s, a stuck claim is
taken over after 3 s, retries after 1 s); production uses the same code with longer settings.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from redis import Redis
from sqlalchemy import func, select

from app.domain import reminders as reminder_domain
from app.extensions import db
from app.jobs.reminders import schedule_reminder
from app.models import CrmUser, Delivery, Reminder
from app.models.stamps import utcnow
from tests.background import Background, wait_until
from tests.smtp_sink import SmtpSink


@pytest.fixture
def background(app, smtp, tmp_path):
    Redis.from_url(app.config["REDIS_URL"]).flushdb()
    smtp.clear()
    processes = Background(app, tmp_path)
    yield processes
    processes.stop_all()
    smtp.clear()


def set_reminders(app, count: int, due_in: float, text: str = "Позвонить клиенту") -> list[int]:
    with app.app_context():
        owner = db.session.scalars(select(CrmUser).where(CrmUser.username == "ivanov")).one()
        due = utcnow() + timedelta(seconds=due_in)
        reminders = [
            reminder_domain.create_reminder(db.session, owner, f"{text} {n}" if count > 1 else text, due)
            for n in range(count)
        ]
        db.session.commit()
        for reminder in reminders:
            schedule_reminder(reminder)
        return [reminder.id for reminder in reminders]


def deliveries(app) -> dict[str, int]:
    with app.app_context():
        rows = db.session.execute(select(Reminder.delivery, func.count()).group_by(Reminder.delivery)).all()
        db.session.rollback()
        return dict(rows)


def message_ids(smtp: SmtpSink) -> list[str]:
    return [message["Message-ID"] for message in smtp.messages]


def test_a_reminder_due_in_two_seconds_arrives_once(app, smtp, background):
    background.start("worker")
    background.start("scheduler")
    set_reminders(app, 1, due_in=2, text="позвонить клиенту")
    started = time.monotonic()
    [message] = smtp.wait_for(1, timeout=30)
    assert time.monotonic() - started >= 1.5  # not before its time
    assert message["To"] == "ivanov@example.ru"
    assert message["Subject"] == "Напоминание: позвонить клиенту"
    assert f"{app.config['PUBLIC_URL']}/reminders/" in message.get_content()
    time.sleep(3)  # the sweep runs meanwhile: nothing more may arrive
    assert len(smtp.messages) == 1
    assert deliveries(app) == {Delivery.SENT: 1}, background.logs()


def test_a_worker_killed_while_sending_does_not_lose_the_reminder(app, smtp, background):
    smtp.recorder.delay = 4  # the SMTP server takes its time: the worker is killed mid-conversation
    first = background.start("worker")
    background.start("scheduler")
    set_reminders(app, 1, due_in=0)
    assert wait_until(lambda: deliveries(app).get(Delivery.SENDING) == 1, timeout=20), background.logs()
    time.sleep(0.5)
    background.kill(first)
    smtp.recorder.delay = 0
    assert smtp.messages == []
    background.start("worker")
    messages = smtp.wait_for(1, timeout=30)
    time.sleep(5)  # the first, killed conversation must not deliver late
    assert len(smtp.messages) == 1, message_ids(smtp)
    assert len(messages) == 1 and deliveries(app) == {Delivery.SENT: 1}, background.logs()


def test_redis_flushed_after_scheduling_the_sweep_still_delivers_once(app, smtp, background):
    set_reminders(app, 1, due_in=2)
    Redis.from_url(app.config["REDIS_URL"]).flushdb()  # the scheduled job is gone
    background.start("worker")
    background.start("scheduler")
    assert len(smtp.wait_for(1, timeout=30)) == 1, background.logs()
    time.sleep(3)
    assert len(smtp.messages) == 1
    assert deliveries(app) == {Delivery.SENT: 1}


def test_smtp_down_for_a_while_then_up_delivers_once(app, smtp, tmp_path):
    Redis.from_url(app.config["REDIS_URL"]).flushdb()
    smtp.stop()  # the company's mail server is down
    processes = Background(app, tmp_path, REMINDER_RETRY_DELAYS="1,1,1,1,1,1,1,1,1,1")
    try:
        processes.start("worker")
        processes.start("scheduler")
        [reminder_id] = set_reminders(app, 1, due_in=0)
        assert wait_until(lambda: _attempts(app, reminder_id) >= 2, timeout=30), processes.logs()
        smtp.start()
        smtp.clear()
        assert len(smtp.wait_for(1, timeout=30)) == 1, processes.logs()
        time.sleep(3)
        assert len(smtp.messages) == 1
        assert deliveries(app) == {Delivery.SENT: 1}
    finally:
        processes.stop_all()
        if smtp.controller is None:
            smtp.start()


def test_smtp_down_past_the_retries_shows_the_reminder_failed_with_the_reason(app, smtp, tmp_path):
    Redis.from_url(app.config["REDIS_URL"]).flushdb()
    smtp.stop()
    processes = Background(app, tmp_path, REMINDER_RETRY_DELAYS="0.5,0.5")
    try:
        processes.start("worker")
        processes.start("scheduler")
        [reminder_id] = set_reminders(app, 1, due_in=0)
        assert wait_until(lambda: deliveries(app) == {Delivery.FAILED: 1}, timeout=30), processes.logs()
        with app.app_context():
            reminder = db.session.get(Reminder, reminder_id)
            assert reminder.attempts == 3 and "ConnectionRefusedError" in reminder.last_error
    finally:
        processes.stop_all()
        smtp.start()


def test_two_schedulers_and_a_scheduler_outage_send_every_reminder_once(app, smtp, background):
    background.start("worker")
    first = background.start("scheduler")
    background.start("scheduler")
    set_reminders(app, 5, due_in=1)
    assert len(smtp.wait_for(5, timeout=30)) == 5, background.logs()
    background.stop(first)
    for process in background.processes:
        if "scheduler" in str(process.args) and process.poll() is None:
            background.stop(process)
    # The schedulers are down while three more reminders come due; they go out when one is back.
    set_reminders(app, 3, due_in=0.5, text="Пока планировщик стоял")
    time.sleep(4)
    assert len(smtp.messages) == 5
    background.start("scheduler")
    assert len(smtp.wait_for(8, timeout=30)) == 8, background.logs()
    time.sleep(3)
    assert len(smtp.messages) == 8 and len(set(message_ids(smtp))) == 8


def test_a_thousand_reminders_due_together_two_workers_exactly_a_thousand_emails(app, smtp, background):
    background.start("worker")
    background.start("worker")
    background.start("scheduler")
    ids = set_reminders(app, 1000, due_in=3, text="Массовое")
    messages = smtp.wait_for(1000, timeout=240)
    time.sleep(3)
    assert len(smtp.messages) == 1000, (len(smtp.messages), deliveries(app), background.logs()[-2000:])
    assert len(set(message_ids(smtp))) == 1000
    assert deliveries(app) == {Delivery.SENT: 1000}
    assert len(messages) == len(ids)


def _attempts(app, reminder_id: int) -> int:
    with app.app_context():
        value = db.session.scalar(select(Reminder.attempts).where(Reminder.id == reminder_id))
        db.session.rollback()
        return value or 0
