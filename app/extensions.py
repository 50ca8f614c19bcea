"""Unbound extension singletons; create_app() binds them to an application."""

from __future__ import annotations

import sqlite3

from flask import current_app
from flask_appbuilder import AppBuilder
from flask_appbuilder.models.sqla.base import SQLA
from flask_mail import Mail
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect
from redis import Redis
from sqlalchemy import event
from sqlalchemy.engine import Engine

db = SQLA()
appbuilder = AppBuilder(update_perms=False)
migrate = Migrate()
mail = Mail()
csrf = CSRFProtect()


def redis_connection() -> Redis:
    """The Redis client for REDIS_URL; RQ gets it passed explicitly everywhere.

    Made once per process: its pool keeps connections open between requests (redis-py replaces
    them in a forked child).
    """
    clients = current_app.extensions.setdefault("crm_redis", {})
    url = current_app.config["REDIS_URL"]
    if url not in clients:
        clients[url] = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    return clients[url]


def _unicode_lower(value: str | None) -> str | None:
    return value.casefold() if isinstance(value, str) else value


@event.listens_for(Engine, "connect")
def _sqlite_unicode_lower(dbapi_connection, _record) -> None:
    """SQLite's lower() folds only ASCII; give it Python's, so ilike finds «система» in «Система»."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)
