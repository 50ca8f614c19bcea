"""Faults an operator meets, with real processes: Redis stopped and flushed while reminders come
due, the mail server down and back, a resend on a reminder that is not failed, no mail server at all.

Nothing is restarted by hand: the worker and scheduler processes started at the beginning must
carry on by themselves. The machine's Redis is never touched: Redis faults use a redis-server of
the test's own (tests/background.py OwnRedis).
"""

from __future__ import annotations

import os
import re
import time
from datetime import timedelta

import pytest
from redis import Redis
from sqlalchemy import func, select, update

from app.domain import reminders as reminder_domain
from app.extensions import db
from app.models import AgentEvent, CrmUser, Delivery, Reminder
from app.models.stamps import utcnow
from tests.background import Background, OwnRedis, wait_until
from tests.conftest import csrf_token, login
from tests.test_reminder_delivery import deliveries, message_ids, set_reminders


@pytest.fixture
def own_redis(app, tmp_path, monkeypatch):
    """The app and its processes on a Redis of the test's own, to stop and flush at will."""
    server = OwnRedis(tmp_path)
    server.start()
    monkeypatch.setitem(app.config, "REDIS_URL", server.url)
    monkeypatch.setitem(app.config, "HEALTH_HEARTBEAT_SECONDS", 4)
    yield server
    server.stop()


def test_redis_stopped_and_flushed_while_reminders_come_due_every_one_is_sent_once(
    app, client, smtp, own_redis, tmp_path
):
    smtp.clear()
    smtp.recorder.delay = 0.3  # sending takes time: workers are busy when Redis goes away
    processes = Background(app, tmp_path, REDIS_URL=own_redis.url, REMINDER_SEND_BATCH="2")
    try:
        processes.start("worker")
        processes.start("worker")
        processes.start("scheduler")
        assert wait_until(lambda: client.get("/health").status_code == 200, timeout=90), processes.logs()
        ids = set_reminders(app, 20, due_in=1, text="Пережить Redis")
        assert smtp.wait_for(1, timeout=20), processes.logs()
        Redis.from_url(own_redis.url).flushall()  # the queue, the scheduled jobs, the heartbeats: gone
        own_redis.stop()
        outage_started = time.monotonic()
        during = client.get("/health")
        time.sleep(10)
        own_redis.start()  # empty: nothing survives the outage but the database
        back = time.monotonic()
        messages = smtp.wait_for(len(ids), timeout=30 + 5)
        all_sent = time.monotonic() - back
        time.sleep(3)  # nothing more may arrive
        assert len(smtp.messages) == len(ids), (len(smtp.messages), deliveries(app), processes.logs()[-3000:])
        assert len(set(message_ids(smtp))) == len(ids)
        assert len(messages) == len(ids) and all_sent <= 30, all_sent
        assert deliveries(app) == {Delivery.SENT: len(ids)}
        assert during.status_code == 503 and "Redis unreachable: ConnectionError" in during.get_json()["reasons"]
        assert wait_until(lambda: client.get("/health").status_code == 200, timeout=15), client.get("/health").json
        healthy_after = time.monotonic() - back
        # One line when the outage starts and one when it ends, per process; no traceback per retry.
        for log in sorted(tmp_path.glob("*.log")):
            text = log.read_text()
            assert "Traceback" not in text, (log.name, text[-3000:])
            assert "Redis is back" in text, (log.name, text[-3000:])
            redis_lines = [
                line for line in text.splitlines() if "Redis" in line and ("WARNING" in line or "ERROR" in line)
            ]
            assert len(redis_lines) <= 3, (log.name, redis_lines)
        assert all(process.poll() is None for process in processes.processes)  # nobody restarted them
        print(
            f"\nRedis outage {back - outage_started:.1f} s: all {len(ids)} reminders e-mailed {all_sent:.1f} s after"
            f" Redis was back; /health during: 503 {during.get_json()['reasons']}; 200 after {healthy_after:.1f} s"
        )
    finally:
        smtp.recorder.delay = 0
        processes.stop_all()


def _owner(username: str = "ivanov") -> CrmUser:
    return db.session.scalars(select(CrmUser).where(CrmUser.username == username)).one()


def _resend(client, reminder_id: int) -> str:
    token = csrf_token(client, "/reminders/")
    answer = client.post(f"/reminders/{reminder_id}/resend", data={"csrf_token": token}, follow_redirects=True)
    assert answer.status_code == 200
    return answer.get_data(as_text=True)


def test_resend_sends_only_a_failed_reminder_and_names_the_state_of_any_other(app, client, smtp, tmp_path):
    Redis.from_url(app.config["REDIS_URL"]).flushdb()
    smtp.clear()
    processes = Background(app, tmp_path)
    try:
        processes.start("worker")
        processes.start("scheduler")
        [sent_id] = set_reminders(app, 1, due_in=0, text="Уже отправлено")
        assert len(smtp.wait_for(1, timeout=60)) == 1, processes.logs()  # process start-up on a busy machine
        assert wait_until(lambda: deliveries(app) == {Delivery.SENT: 1}, timeout=10)
        with app.app_context():
            pending = reminder_domain.create_reminder(db.session, _owner(), "Ждёт", utcnow() + timedelta(hours=1))
            failed = reminder_domain.create_reminder(db.session, _owner(), "Не ушло", utcnow() - timedelta(hours=1))
            db.session.flush()
            pending_id, failed_id = pending.id, failed.id
            db.session.execute(
                update(Reminder)
                .where(Reminder.id == failed_id)
                .values(
                    delivery=Delivery.FAILED,
                    attempts=3,
                    last_error="ConnectionRefusedError: [Errno 111] Connection refused",
                )
            )
            db.session.commit()
        login(client, "ivanov")
        page = _resend(client, sent_id)
        assert "Ничего не отправлено: письмо уже отправлено" in page, page[-3000:]
        page = _resend(client, pending_id)
        assert "Ничего не отправлено: напоминание ждёт своего времени" in page
        time.sleep(3)
        assert len(smtp.messages) == 1  # neither was sent again
        page = _resend(client, failed_id)
        assert "Письмо будет отправлено повторно." in page
        messages = smtp.wait_for(2, timeout=30)
        time.sleep(2)
        assert len(smtp.messages) == 2 and messages[1]["Subject"] == "Напоминание: Не ушло"
        page = _resend(client, failed_id)  # the second click on the stale page
        time.sleep(2)
        assert "Ничего не отправлено: письмо уже отправлено" in page and len(smtp.messages) == 2
    finally:
        processes.stop_all()


def test_two_resends_milliseconds_apart_send_the_failed_reminder_once(app, smtp):
    """Two tabs both show the reminder as failed; the first click's e-mail is out before the
    second click is handled: the second finds it sent and sends nothing."""
    from sqlalchemy.orm import Session

    from app.jobs.reminders import send_reminder

    smtp.clear()
    with app.app_context():
        failed = reminder_domain.create_reminder(db.session, _owner(), "Дважды", utcnow() - timedelta(hours=1))
        failed.delivery, failed.attempts, failed.last_error = Delivery.FAILED, 9, "TimeoutError: timed out"
        db.session.commit()
        reminder_id = failed.id
        with Session(db.engine) as second_tab:
            stale = second_tab.get(Reminder, reminder_id)  # read before the first click lands
            assert stale.delivery == Delivery.FAILED
            first = db.session.get(Reminder, reminder_id, populate_existing=True)
            assert reminder_domain.resend(first) is True
            db.session.commit()
            assert send_reminder(reminder_id) == "sent"
            assert reminder_domain.resend(stale) is False  # the row says "sent" now, whatever the page said
            second_tab.commit()
            assert stale.delivery == Delivery.SENT  # what the refusal names
        assert send_reminder(reminder_id) == "not due or taken"
        assert db.session.get(Reminder, reminder_id, populate_existing=True).delivery == Delivery.SENT
    time.sleep(1)
    assert len(smtp.messages) == 1 and smtp.messages[0]["Subject"] == "Напоминание: Дважды"


def test_mail_server_down_then_back_every_waiting_reminder_goes_out_at_once(app, client, smtp, tmp_path, monkeypatch):
    """The back-off table waits ten minutes before the second attempt here; a probe sees the server
    back within a sweep, so the e-mails go out within the outage + 30 s all the same."""
    outage = float(os.environ.get("SMTP_OUTAGE_SECONDS", 12))
    first_retry = 600.0  # far beyond outage + 30 s: only the release can deliver in time
    Redis.from_url(app.config["REDIS_URL"]).flushdb()
    monkeypatch.setitem(app.config, "HEALTH_REMINDER_LATE_SECONDS", 5)
    monkeypatch.setitem(app.config, "HEALTH_HEARTBEAT_SECONDS", 4)
    smtp.stop()
    processes = Background(
        app, tmp_path, REMINDER_RETRY_DELAYS=f"{first_retry:.0f},900,1800,1800", SMTP_PROBE_SECONDS="2"
    )
    try:
        processes.start("worker")
        processes.start("scheduler")
        ids = set_reminders(app, 5, due_in=0, text="Почта лежит")
        assert wait_until(lambda: _all_attempted(app, ids), timeout=30), processes.logs()
        down_since = time.monotonic()
        assert _earliest_retry_in(app, ids) > outage + 30  # the table alone would be too late
        time.sleep(max(0.0, outage - 8))
        during = client.get("/health")
        time.sleep(max(0.0, outage - (time.monotonic() - down_since)))
        smtp.start()
        smtp.clear()
        back = time.monotonic()
        messages = smtp.wait_for(len(ids), timeout=30)
        delay = time.monotonic() - back
        time.sleep(3)
        assert len(smtp.messages) == len(ids) and len(set(message_ids(smtp))) == len(ids), processes.logs()
        assert len(messages) == len(ids) and delay <= 30, delay  # late by the outage + 30 s, not by the table
        assert during.status_code == 503, during.get_json()
        assert any(reason.startswith("reminders are late") for reason in during.get_json()["reasons"])
        assert wait_until(lambda: client.get("/health").status_code == 200, timeout=10), client.get("/health").json
        print(
            f"\nSMTP outage {back - down_since:.0f} s: all {len(ids)} e-mails {delay:.1f} s after the server was back"
            f" (next retry by the table: {first_retry:.0f} s); /health during: 503 {during.get_json()['reasons']}"
        )
    finally:
        processes.stop_all()
        if smtp.controller is None:
            smtp.start()


def test_release_makes_only_the_reminders_waiting_for_a_retry_due_now(app):
    later = utcnow() + timedelta(minutes=10)
    with app.app_context():
        owner = _owner()

        def reminder(text: str, **state) -> int:
            made = reminder_domain.create_reminder(db.session, owner, text, utcnow() - timedelta(minutes=1))
            db.session.flush()
            db.session.execute(update(Reminder).where(Reminder.id == made.id).values(**state))
            return made.id

        waiting = [
            reminder(f"Ждёт повтора {n}", attempts=n, next_attempt_at=later, last_error="ConnectionRefusedError")
            for n in (1, 3)
        ]
        untouched = {
            "sent": reminder("Ушло", delivery=Delivery.SENT, attempts=2, next_attempt_at=later),
            "done": reminder("Закрыто", attempts=1, next_attempt_at=later, done_at=utcnow()),
            "future": reminder("Ещё не пора", attempts=0, next_attempt_at=later),
            "failed": reminder("Не ушло", delivery=Delivery.FAILED, attempts=9, next_attempt_at=later),
            "sending": reminder("Отправляется", delivery=Delivery.SENDING, attempts=1, next_attempt_at=later),
        }
        db.session.commit()
        now = utcnow()

        assert reminder_domain.release_waiting_retries(db.session, now) == len(waiting)

        def state(reminder_id: int) -> tuple:
            row = db.session.get(Reminder, reminder_id, populate_existing=True)
            return row.delivery, row.attempts, reminder_domain.as_utc(row.next_attempt_at)

        assert all(state(reminder_id)[2] == now for reminder_id in waiting)
        assert [state(reminder_id)[0] for reminder_id in waiting] == [Delivery.PENDING, Delivery.PENDING]
        assert all(state(reminder_id)[2] == later for reminder_id in untouched.values()), {
            kind: state(reminder_id) for kind, reminder_id in untouched.items()
        }
        assert set(reminder_domain.due_reminder_ids(db.session, now, 120, 100)) == set(waiting)
        assert reminder_domain.release_waiting_retries(db.session, now) == 0  # nothing waits any more
        db.session.rollback()


def _earliest_retry_in(app, ids: list[int]) -> float:
    """Seconds until the first of these reminders is due again by the back-off table."""
    with app.app_context():
        earliest = db.session.scalar(select(func.min(Reminder.next_attempt_at)).where(Reminder.id.in_(ids)))
        db.session.rollback()
        return (reminder_domain.as_utc(earliest) - utcnow()).total_seconds()


def _all_attempted(app, ids: list[int]) -> bool:
    with app.app_context():
        attempts = db.session.scalars(select(Reminder.attempts).where(Reminder.id.in_(ids))).all()
        db.session.rollback()
        return len(attempts) == len(ids) and all(attempts)


def test_without_a_mail_server_reminders_reach_the_agent_and_are_not_failed(app, client, smtp, tmp_path, monkeypatch):
    Redis.from_url(app.config["REDIS_URL"]).flushdb()
    smtp.clear()
    monkeypatch.setitem(app.config, "MAIL_SERVER", None)
    processes = Background(app, tmp_path)
    try:
        processes.start("worker")
        processes.start("scheduler")
        ids = set_reminders(app, 3, due_in=0, text="Без почты")
        assert wait_until(lambda: deliveries(app) == {Delivery.NO_EMAIL: 3}, timeout=30), processes.logs()
        with app.app_context():
            events = db.session.scalars(select(AgentEvent).where(AgentEvent.kind == "reminder")).all()
            assert len(events) == 3
        assert smtp.messages == []
        login(client, "ivanov")
        page = client.get("/reminders/").get_data(as_text=True)
        assert "Почта не настроена — напоминания приходят в Агент и в «Мои напоминания»" in page
        assert page.count("показано в Агенте, без письма") == len(ids)
        assert "crm-failure" not in page
        assert re.search(r'id="failed"[^>]*>[^<]*<span class="badge">0</span>', page)  # no failure shown
    finally:
        processes.stop_all()


def test_a_failed_reminder_says_why_in_russian_and_only_the_admin_sees_the_technical_text(app, client):
    with app.app_context():
        reminder = reminder_domain.create_reminder(db.session, _owner(), "Не ушло", utcnow() - timedelta(hours=1))
        reminder.delivery, reminder.attempts = Delivery.FAILED, 3
        reminder.last_error = "SMTPRecipientsRefused: {'ivanov@example.ru': (550, b'No such user')}"
        db.session.commit()
    login(client, "ivanov")
    page = client.get("/reminders/").get_data(as_text=True)
    assert "адрес отклонён сервером" in page and "No such user" not in page
    client.get("/logout/")
    login(client, "admin")
    page = client.get("/reminders/?everyone=1").get_data(as_text=True)
    assert "адрес отклонён сервером" in page and "No such user" in page
    assert re.search(r"<details[^>]*crm-failure-technical", page)


@pytest.mark.parametrize(
    ("technical", "russian"),
    [
        ("ConnectionRefusedError: [Errno 111] Connection refused", "почтовый сервер недоступен"),
        ("SMTPAuthenticationError: (535, b'5.7.8 Error: authentication failed')", "ошибка входа на почтовый сервер"),
        ("SMTPServerDisconnected: Connection unexpectedly closed", "почтовый сервер недоступен"),
        ("TimeoutError: timed out", "почтовый сервер недоступен"),
        ("SSLError: [SSL: WRONG_VERSION_NUMBER] wrong version number", "ошибка защищённого соединения (TLS/SSL)"),
    ],
)
def test_failure_reasons_in_russian(app, technical, russian):
    from flask_babel import force_locale

    from app.jobs.mail import failure_reason

    with app.test_request_context(), force_locale("ru"):
        assert failure_reason(technical) == russian


def test_the_mail_page_shows_the_settings_without_the_password_and_sends_a_test_email(app, client, smtp, monkeypatch):
    smtp.clear()
    monkeypatch.setitem(app.config, "MAIL_PASSWORD", "very-secret-mail-password")
    login(client, "admin")
    page = client.get("/mail-settings/").get_data(as_text=True)
    assert "very-secret-mail-password" not in page and "пароль задан (не показывается)" in page
    assert "127.0.0.1" in page and "Отправить тестовое письмо" in page
    monkeypatch.setitem(app.config, "MAIL_PASSWORD", None)
    token = csrf_token(client, "/mail-settings/")
    answer = client.post("/mail-settings/test", data={"csrf_token": token, "recipient": "boss@example.ru"})
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Тестовое письмо на boss@example.ru принято. Ответ сервера: 250" in page, page[-2000:]
    [message] = smtp.wait_for(1, timeout=5)
    assert message["To"] == "boss@example.ru" and message["Subject"] == "ZapTrade CRM: тестовое письмо"
    from tests.smtp_sink import free_port

    monkeypatch.setitem(app.config, "MAIL_PORT", free_port())  # nobody listens there
    answer = client.post("/mail-settings/test", data={"csrf_token": token, "recipient": "boss@example.ru"})
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Тестовое письмо не отправлено: почтовый сервер недоступен. Ответ сервера: ConnectionRefusedError" in page


def test_the_mail_page_is_the_administrators(app, client):
    login(client, "ivanov")
    assert client.get("/mail-settings/").status_code in (302, 403, 404)


def test_links_follow_the_served_address_unless_public_url_is_set(app, monkeypatch):
    from app.jobs.mail import reminder_link

    with app.app_context():
        reminder = reminder_domain.create_reminder(db.session, _owner(), "Ссылка", utcnow())
        db.session.flush()
        monkeypatch.setitem(app.config, "PUBLIC_URL", "")
        monkeypatch.setitem(app.config, "SERVED_URL", "http://127.0.0.1:5210")
        assert reminder_link(reminder) == "http://127.0.0.1:5210/reminders/"  # a worker: no request
        with app.test_request_context(base_url="http://192.168.1.20:5211"):
            assert reminder_link(reminder).startswith("http://192.168.1.20:5211/")
        monkeypatch.setitem(app.config, "PUBLIC_URL", "https://crm.company.ru/")
        assert reminder_link(reminder).startswith("https://crm.company.ru/")
        with app.test_request_context(base_url="http://192.168.1.20:5211"):
            assert reminder_link(reminder).startswith("https://crm.company.ru/")
        db.session.rollback()


def test_a_request_without_items_pops_up_without_an_empty_subject(app, client, manager_api):
    from tests.factories import make_organization

    with app.app_context():
        org_id = make_organization("ООО «Пустой запрос»").id
    answer = client.post("/api/v1/request/", json={"organization": org_id}, headers=manager_api)
    assert answer.status_code == 201, answer.get_json()
    with app.app_context():
        event = db.session.scalars(select(AgentEvent).where(AgentEvent.kind == "request_created")).one()
        assert event.message == "ООО «Пустой запрос». Добавил(а): Иван Иванов."


def test_a_wrong_status_or_delivery_is_refused_in_russian(app, client, manager_api):
    from tests.factories import make_organization

    with app.app_context():
        org_id = make_organization("ООО «Статусы»").id
    pk = client.post("/api/v1/request/", json={"organization": org_id}, headers=manager_api).get_json()["id"]
    status = client.post(f"/api/v1/request/{pk}/status", json={"status": "lost", "comment": "x"}, headers=manager_api)
    delivery = client.post(
        f"/api/v1/request/{pk}/delivery", json={"delivery_status": "lost", "comment": "x"}, headers=manager_api
    )
    assert status.status_code == 422 and delivery.status_code == 422
    assert status.get_json()["message"]["status"][0].startswith("Допустимые значения: preparing_offer")
    assert delivery.get_json()["message"]["delivery_status"][0].startswith("Допустимые значения: not_started")
    english = client.post(
        f"/api/v1/request/{pk}/status?_l_=en", json={"status": "lost", "comment": "x"}, headers=manager_api
    )
    assert english.get_json()["message"]["status"][0].startswith("Must be one of: ")


def test_a_stop_that_comes_with_redis_going_away_ends_the_worker_and_the_scheduler(app, client, own_redis, tmp_path):
    """Ctrl-C on `make run` stops the embedded Redis and the background processes together: a
    worker whose warm shut-down cannot reach Redis must end, not wait for Redis to come back."""
    import signal

    processes = Background(app, tmp_path, REDIS_URL=own_redis.url)
    try:
        # An idle worker told to stop ends, rather than starting its RQ loop again.
        idle = processes.start("worker")
        assert wait_until(lambda: "Listening on" in processes.logs(), timeout=90), processes.logs()
        idle.send_signal(signal.SIGTERM)
        assert wait_until(lambda: idle.poll() is not None, timeout=10), processes.logs()
        assert "starting it again" not in processes.logs()

        worker = processes.start("worker")
        scheduler = processes.start("scheduler")
        assert wait_until(lambda: client.get("/health").status_code == 200, timeout=90), processes.logs()
        for process in (worker, scheduler):
            process.send_signal(signal.SIGTERM)
        own_redis.stop()
        ended = wait_until(lambda: worker.poll() is not None and scheduler.poll() is not None, timeout=20)
        assert ended, processes.logs()
    finally:
        processes.stop_all()
