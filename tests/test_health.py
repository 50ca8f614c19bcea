"""/health tells monitoring the truth: the database, Redis, a live scheduler, a live worker, and
whether reminders are late. `?scope=web` asks only what a load balancer needs."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from app import backup
from app.domain import reminders as reminder_domain
from app.extensions import db
from app.models import CrmUser
from app.models.stamps import utcnow
from tests.background import Background, wait_until
from tests.test_backup import backups  # noqa: F401  (the fixture: backups on, into the test's own folder)


def test_health_for_a_load_balancer_reports_database_and_redis(client):
    answer = client.get("/health?scope=web")
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["database"] == "ok" and body["redis"] == "ok" and body["status"] == "ok"


def test_health_is_503_naming_the_missing_scheduler_and_worker(app, client):
    from redis import Redis

    Redis.from_url(app.config["REDIS_URL"]).flushdb()
    answer = client.get("/health")
    assert answer.status_code == 503
    body = answer.get_json()
    assert body["database"] == "ok" and body["redis"] == "ok" and body["status"] == "error"
    assert any(reason.startswith("no live scheduler") for reason in body["reasons"]), body
    assert any(reason.startswith("no live worker") for reason in body["reasons"]), body
    assert body["workers"] == 0


def test_health_is_503_when_redis_is_down(app, client):
    good = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    try:
        answer = client.get("/health")
        web = client.get("/health?scope=web")
    finally:
        app.config["REDIS_URL"] = good
    assert answer.status_code == 503 and web.status_code == 503
    body = answer.get_json()
    assert body["database"] == "ok" and body["redis"].startswith("error") and body["status"] == "error"
    assert "Redis unreachable: ConnectionError" in body["reasons"]


def test_health_is_503_when_a_due_reminder_is_unsent_past_the_threshold(app, client):
    with app.app_context():
        owner = db.session.scalars(select(CrmUser).where(CrmUser.username == "ivanov")).one()
        reminder_domain.create_reminder(db.session, owner, "Давно пора", utcnow() - timedelta(seconds=300))
        db.session.commit()
    body = client.get("/health").get_json()
    reasons = [reason for reason in body["reasons"] if reason.startswith("reminders are late")]
    assert reasons and "unsent for 30" in reasons[0], body
    assert body["checks"]["reminders"]["due_unsent"] == 1


def test_health_is_200_with_a_scheduler_and_a_worker_and_503_soon_after_the_scheduler_dies(
    app, client, tmp_path, monkeypatch
):
    from redis import Redis

    monkeypatch.setitem(app.config, "HEALTH_HEARTBEAT_SECONDS", 4)
    Redis.from_url(app.config["REDIS_URL"]).flushdb()
    processes = Background(app, tmp_path)  # heartbeat window 4 s
    try:
        processes.start("worker")
        scheduler = processes.start("scheduler")
        assert wait_until(lambda: client.get("/health").status_code == 200, timeout=90), processes.logs()
        body = client.get("/health").get_json()
        assert body["workers"] == 1 and body["checks"]["scheduler"]["alive"] == 1
        processes.kill(scheduler)  # kill -9: no clean-up, its key must expire by itself
        killed = time.monotonic()
        assert wait_until(lambda: client.get("/health").status_code == 503, timeout=10)
        noticed = time.monotonic() - killed
        assert noticed <= 4 + 1.5, noticed  # within its heartbeat window
        body = client.get("/health").get_json()
        assert body["reasons"] == ["no live scheduler: none has beaten its heartbeat in the last 4 s"], body
        print(f"scheduler killed: /health 503 after {noticed:.1f} s: {body['reasons']}")
    finally:
        processes.stop_all()


@pytest.mark.usefixtures("backups")
def test_a_manual_backup_does_not_hide_a_failed_or_old_nightly_one(app, client, monkeypatch):
    from app.backup import status as backup_status

    def backup_check() -> dict:
        return client.get("/health").get_json()["checks"]["backup"]  # no worker runs: judge this check only

    with app.app_context():
        with monkeypatch.context() as disk:
            disk.setattr(backup_status, "write_backup", _disk_full)
            assert backup.run_backup("schedule")["ok"] is False  # the night's backup failed
        assert backup.run_backup("button")["ok"] is True  # the admin's one, the next morning, worked
    check = backup_check()
    assert check["ok"] is False and check["state"] == "failed", check
    assert "No space left on device" in check["reason"]
    health = client.get("/health")
    assert health.status_code == 503
    assert any(reason.startswith("backup failed") for reason in health.get_json()["reasons"])

    with app.app_context():
        assert backup.run_backup("schedule")["ok"] is True  # the next night's worked
    assert backup_check()["ok"] is True and backup_check()["state"] == "ok"

    monkeypatch.setitem(app.config, "BACKUP_MAX_AGE_HOURS", 0.0001)  # two days without a nightly one
    time.sleep(1)
    with app.app_context():
        assert backup.run_backup("command")["ok"] is True  # fresh, but not the schedule's
    check = backup_check()
    assert check["ok"] is False and check["state"] == "too old", check


def _disk_full(_folder):
    raise OSError(28, "No space left on device")


def test_health_is_503_naming_the_database_when_it_does_not_answer_and_shows_no_sql(app, client, tmp_path, monkeypatch):
    from sqlalchemy import create_engine

    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        unreachable = create_engine(f"sqlite:///{tmp_path / 'no-such-folder' / 'crm.db'}")
    else:  # nobody listens on port 1
        unreachable = create_engine("postgresql+psycopg://crm@127.0.0.1:1/crm", connect_args={"connect_timeout": 2})
    with monkeypatch.context() as outage:
        outage.setitem(db._app_engines[app], None, unreachable)  # this app, for these requests only
        answer = client.get("/health")
        web = client.get("/health?scope=web")
    unreachable.dispose()
    assert answer.status_code == 503 and web.status_code == 503
    body = answer.get_json()
    assert body["status"] == "error" and body["checks"]["database"]["ok"] is False
    assert body["database"].startswith("error: database unreachable")
    assert body["reasons"][0] == "database unreachable: OperationalError", body["reasons"]
    assert web.get_json()["reasons"] == ["database unreachable: OperationalError"]
    for text in (answer.get_data(as_text=True), web.get_data(as_text=True)):
        for leak in ("SELECT", "select", "psycopg", "sqlite", "127.0.0.1", "port 1", "refused", "unable to open"):
            assert leak not in text, (leak, text)
        assert "Traceback" not in text and "no-such-folder" not in text
    assert client.get("/health?scope=web").get_json()["database"] == "ok"  # the real one again


def test_one_of_two_workers_killed_health_stays_200_the_last_one_killed_503_naming_workers(
    app, client, tmp_path, monkeypatch
):
    from redis import Redis

    window = 4
    monkeypatch.setitem(app.config, "HEALTH_HEARTBEAT_SECONDS", window)
    Redis.from_url(app.config["REDIS_URL"]).flushdb()
    processes = Background(app, tmp_path, HEALTH_HEARTBEAT_SECONDS=str(window))
    try:
        first, second = processes.start("worker"), processes.start("worker")
        processes.start("scheduler")

        def all_up() -> bool:  # both workers and the scheduler (which may start last)
            answer = client.get("/health")
            return answer.status_code == 200 and answer.get_json()["workers"] == 2

        assert wait_until(all_up, timeout=90), (client.get("/health").get_json(), processes.logs())

        processes.kill(first)  # kill -9, with its work horse if it had one: its key must expire by itself
        killed = time.monotonic()
        answers = []

        def one_worker_left() -> bool:
            answers.append(client.get("/health"))
            return answers[-1].get_json()["workers"] == 1

        assert wait_until(one_worker_left, timeout=window + 2), answers[-1].get_json()
        one_left_after = time.monotonic() - killed
        assert one_left_after <= window + 1.5, one_left_after
        assert all(answer.status_code == 200 for answer in answers), [
            a.get_json() for a in answers if a.status_code != 200
        ]
        for _ in range(5):  # and it stays so: the one left carries on beating
            still = client.get("/health")
            assert still.status_code == 200 and still.get_json()["checks"]["workers"]["alive"] == 1, still.get_json()
            time.sleep(0.5)

        processes.kill(second)
        killed = time.monotonic()
        assert wait_until(lambda: client.get("/health").status_code == 503, timeout=window + 2)
        none_left_after = time.monotonic() - killed
        assert none_left_after <= window + 1.5, none_left_after
        body = client.get("/health").get_json()
        assert body["reasons"] == [f"no live worker: none has beaten its heartbeat in the last {window} s"], body
        assert body["workers"] == 0 and body["checks"]["scheduler"]["ok"] is True
        print(
            f"\none of two workers killed: /health 200, workers=1 after {one_left_after:.1f} s;"
            f" the last one killed: 503 after {none_left_after:.1f} s: {body['reasons']}"
        )
    finally:
        processes.stop_all()
