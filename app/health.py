"""GET /health: the state of the database and Redis, for people and load balancers."""

from __future__ import annotations

from flask import Blueprint, jsonify
from redis.exceptions import RedisError
from rq import Worker
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.backup import backup_health
from app.extensions import db, redis_connection

health_blueprint = Blueprint("health", __name__)


@health_blueprint.route("/health")
def health():
    state: dict[str, object] = {}
    try:
        db.session.execute(text("SELECT 1"))
        state["database"] = "ok"
    except SQLAlchemyError as exc:
        db.session.rollback()
        state["database"] = f"error: {exc.__class__.__name__}"
    try:
        connection = redis_connection()
        connection.ping()
        state["redis"] = "ok"
        state["workers"] = len(Worker.all(connection=connection))
    except RedisError as exc:
        state["redis"] = f"error: {exc.__class__.__name__}"
    backup_ok, state["backup"] = backup_health()
    healthy = state["database"] == "ok" and state["redis"] == "ok" and backup_ok
    state["status"] = "ok" if healthy else "error"
    return jsonify(state), 200 if healthy else 503
