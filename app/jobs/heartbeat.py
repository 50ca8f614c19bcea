"""Liveness of the background processes, as /health reads it: one key per process, with a TTL.

RQ's own worker registry is not liveness (empty after a FLUSHALL while workers still run, listing
a `kill -9`ed worker until its TTL), so each worker and scheduler beats a key of its own. A key
that expired means the process stopped beating; an index set lets /health find the keys without
scanning Redis, and a FLUSHALL is healed by the next beat.
"""

from __future__ import annotations

import time

from flask import current_app
from redis import Redis

ROLES = ("worker", "scheduler")


def _index(role: str) -> str:
    return f"crm:heartbeats:{role}"


def _key(role: str, name: str) -> str:
    return f"crm:heartbeat:{role}:{name}"


def window_seconds() -> int:
    """A process not heard from in this many seconds counts as dead."""
    return max(2, int(current_app.config["HEALTH_HEARTBEAT_SECONDS"]))


def beat(connection: Redis, role: str, name: str, window: int) -> None:
    """Say "alive" for the next `window` seconds; raises RedisError when Redis is unreachable."""
    with connection.pipeline() as pipeline:
        pipeline.set(_key(role, name), f"{time.time():.3f}", ex=window)
        pipeline.sadd(_index(role), name)
        pipeline.expire(_index(role), 24 * 3600)
        pipeline.execute()


def forget(connection: Redis, role: str, name: str) -> None:
    """A clean stop: the process is gone at once, not when its key expires."""
    with connection.pipeline() as pipeline:
        pipeline.delete(_key(role, name))
        pipeline.srem(_index(role), name)
        pipeline.execute()


def alive(connection: Redis, role: str) -> dict[str, float]:
    """Live processes of a role and how many seconds ago each beat; prunes the dead from the index."""
    names = sorted(member.decode() for member in connection.smembers(_index(role)))
    if not names:
        return {}
    beats = connection.mget([_key(role, name) for name in names])
    now = time.time()
    dead = [name for name, value in zip(names, beats, strict=True) if value is None]
    if dead:
        connection.srem(_index(role), *dead)
    return {
        name: round(max(0.0, now - float(value)), 1)
        for name, value in zip(names, beats, strict=True)
        if value is not None
    }
