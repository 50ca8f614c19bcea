"""GET /health: whether reminders can reach the managers right now, for people and monitoring.

Every check is named in HEALTH_CHECKS; each answers (ok, details). /health is 200 when all are ok,
else 503 with the failing checks' reasons. `/health?scope=web` runs only the checks a load
balancer needs to route to this web process (database and Redis).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from flask import Blueprint, current_app, jsonify, request
from redis.exceptions import RedisError
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from app.backup import backup_health
from app.extensions import db, redis_connection
from app.jobs import heartbeat
from app.models.reminders import Delivery, Reminder
from app.models.stamps import utcnow

health_blueprint = Blueprint("health", __name__)


@dataclass
class Outcome:
    """One check's answer: `reason` says in one line what is wrong (None when ok)."""

    reason: str | None = None
    details: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.reason is None


def check_database() -> Outcome:
    try:
        db.session.execute(text("SELECT 1"))
        return Outcome()
    except SQLAlchemyError as exc:
        db.session.rollback()
        return Outcome(f"database unreachable: {exc.__class__.__name__}")


def check_redis() -> Outcome:
    try:
        redis_connection().ping()
        return Outcome()
    except RedisError as exc:
        return Outcome(f"Redis unreachable: {exc.__class__.__name__}")


def _check_beating(role: str) -> Outcome:
    window = heartbeat.window_seconds()
    try:
        alive = heartbeat.alive(redis_connection(), role)
    except RedisError:
        return Outcome(f"no {role} can be seen: Redis unreachable")
    details = {"alive": len(alive), "heartbeat_window_seconds": window, "last_beats_seconds_ago": alive}
    if not alive:
        return Outcome(f"no live {role}: none has beaten its heartbeat in the last {window} s", details)
    return Outcome(None, details)


def check_scheduler() -> Outcome:
    return _check_beating("scheduler")


def check_workers() -> Outcome:
    return _check_beating("worker")


def check_reminders() -> Outcome:
    """The one figure that says "reminders are late": the oldest due one not yet delivered."""
    threshold = int(current_app.config["HEALTH_REMINDER_LATE_SECONDS"])
    now = utcnow()
    try:
        query = select(func.min(Reminder.due_at), func.count(Reminder.id)).where(
            Reminder.done_at.is_(None),
            Reminder.delivery.in_([Delivery.PENDING, Delivery.SENDING]),
            Reminder.due_at <= now,
        )
        oldest, waiting = db.session.execute(query).one()
        failed = db.session.scalar(
            select(func.count(Reminder.id)).where(Reminder.done_at.is_(None), Reminder.delivery == Delivery.FAILED)
        )
    except SQLAlchemyError as exc:
        db.session.rollback()
        return Outcome(f"reminders cannot be read: {exc.__class__.__name__}")
    from app.domain.reminders import as_utc

    late = round((now - as_utc(oldest)).total_seconds()) if oldest is not None else 0
    details = {"due_unsent": waiting, "oldest_due_seconds_ago": late, "late_after_seconds": threshold, "failed": failed}
    if oldest is not None and now - as_utc(oldest) > timedelta(seconds=threshold):
        return Outcome(f"reminders are late: the oldest due one is unsent for {late} s", details)
    return Outcome(None, details)


def check_backup() -> Outcome:
    """When backups are enabled: the last one did not fail, and the last good one is recent."""
    ok, details = backup_health()
    if ok:
        return Outcome(None, details)
    return Outcome(f"backup {details.get('state')}: {details.get('error') or 'see the Backups page'}", details)


# The named checks, in the order they are reported. Add one with one line: ("name", function).
HEALTH_CHECKS: list[tuple[str, Callable[[], Outcome]]] = [
    ("database", check_database),
    ("redis", check_redis),
    ("scheduler", check_scheduler),
    ("workers", check_workers),
    ("reminders", check_reminders),
    ("backup", check_backup),
]
WEB_CHECKS = {"database", "redis"}


@health_blueprint.route("/health")
def health():
    web_only = request.args.get("scope") == "web"
    state: dict[str, object] = {}
    checks: dict[str, object] = {}
    reasons: list[str] = []
    for name, check in HEALTH_CHECKS:
        if web_only and name not in WEB_CHECKS:
            continue
        outcome = check()
        checks[name] = {"ok": outcome.ok, **({"reason": outcome.reason} if outcome.reason else {}), **outcome.details}
        state[name] = "ok" if outcome.ok else f"error: {outcome.reason}"
        if outcome.reason:
            reasons.append(outcome.reason)
    if "workers" in checks:
        state["workers"] = checks["workers"].get("alive", 0)
    healthy = not reasons
    state.update(status="ok" if healthy else "error", reasons=reasons, checks=checks)
    return jsonify(state), 200 if healthy else 503
