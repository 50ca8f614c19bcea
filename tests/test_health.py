"""/health tells monitoring the truth: the database, Redis, a live scheduler, a live worker, and
whether reminders are late. `?scope=web` asks only what a load balancer needs."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import select

from app.domain import reminders as reminder_domain
from app.extensions import db
from app.models import CrmUser
from app.models.stamps import utcnow
from tests.background import Background, wait_until


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
