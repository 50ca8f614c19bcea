"""The background processes: `python worker.py worker` (RQ) and `python worker.py scheduler`.

Both run inside an application context, so jobs can use the database, mail and config.
"""

from __future__ import annotations

import logging
import sys
import time

from redis import Redis
from redis.exceptions import RedisError
from rq import Worker

from app import create_app
from app.extensions import redis_connection
from app.jobs.context import QUEUE_NAME
from app.jobs.schedule import CrmScheduler


def _wait_for_redis(connection: Redis, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            connection.ping()
            return
        except RedisError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def main(role: str) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = create_app()
    with app.app_context():
        connection = redis_connection()
        _wait_for_redis(connection)
        if role == "worker":
            Worker([QUEUE_NAME], connection=connection).work(with_scheduler=False)
        elif role == "scheduler":
            CrmScheduler(connection=connection, interval=app.config["SCHEDULER_INTERVAL"]).run()
        else:
            raise SystemExit(f"usage: {sys.argv[0]} worker|scheduler")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "worker")
