"""/health tells a person or a load balancer whether the database and Redis answer."""

from __future__ import annotations


def test_health_reports_database_and_redis(client):
    answer = client.get("/health")
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["database"] == "ok" and body["redis"] == "ok" and body["status"] == "ok"


def test_health_is_503_when_redis_is_down(app, client):
    good = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    try:
        answer = client.get("/health")
    finally:
        app.config["REDIS_URL"] = good
    assert answer.status_code == 503
    body = answer.get_json()
    assert body["database"] == "ok" and body["redis"].startswith("error") and body["status"] == "error"
