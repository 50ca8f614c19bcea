"""Jobs run inside an application context, with database connections of their own."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

from flask import has_app_context
from rq import Queue
from rq_scheduler import Scheduler

from app.extensions import db, redis_connection

T = TypeVar("T")
QUEUE_NAME = "default"


def in_app_context(job: Callable[..., T]) -> Callable[..., T]:
    """Run the job in the worker's app context; connections inherited from the forking parent are
    dropped (not closed: they belong to the parent), so the job opens its own."""

    @functools.wraps(job)
    def run(*args, **kwargs) -> T:
        if has_app_context():
            db.engine.dispose(close=False)
            try:
                return job(*args, **kwargs)
            finally:
                db.session.remove()
        from app import create_app

        with create_app().app_context():
            return job(*args, **kwargs)

    return run


def job_queue() -> Queue:
    return Queue(QUEUE_NAME, connection=redis_connection())


def job_scheduler() -> Scheduler:
    return Scheduler(queue_name=QUEUE_NAME, connection=redis_connection())
