"""Visible requests per status, for the requests list's status links.

Counting them means reading every visible request (a scan of some 200,000 index entries for the
administrator) on each list page, yet they change only when a request is added or deleted or its
status or responsible changes. So the counts are kept in Redis under a generation number that every
such commit raises: a page never shows counts older than the last committed change. Writers that
bypass the ORM session (the demo loader, bulk deletes) call `forget()`; the counts also expire on
their own after COUNTS_TTL_SECONDS. Without Redis the counts are simply computed each time.
"""

from __future__ import annotations

import contextlib
import json
import logging

from redis.exceptions import RedisError
from sqlalchemy import event, func, inspect
from sqlalchemy.orm import Session

from app import access
from app.extensions import db, redis_connection
from app.models.requests import Request
from app.models.users import CrmUser

GENERATION_KEY = "crm:request-counts:generation"
COUNTS_TTL_SECONDS = 600
_CHANGED = "request_counts_changed"
log = logging.getLogger(__name__)


def status_counts(user: CrmUser | None = None) -> dict[str, int]:
    """{status: number of requests} among the requests the user may see."""
    user = user if user is not None else access.current_user()
    if user is None:
        return {}
    # The key follows the policy's clause: everything, or the requests he is responsible for.
    scope = "all" if access.request_clause(user) is None else f"responsible:{user.id}"
    try:
        connection = redis_connection()
        generation = int(connection.get(GENERATION_KEY) or 0)
        key = f"crm:request-counts:{generation}:{scope}"
        cached = connection.get(key)
        if cached is not None:
            return json.loads(cached)
    except RedisError as error:
        log.warning("Request counts computed without Redis: %s", error)
        return _count(user)
    counts = _count(user)
    with contextlib.suppress(RedisError):  # the next page counts again
        connection.set(key, json.dumps(counts), ex=COUNTS_TTL_SECONDS)
    return counts


def _count(user: CrmUser) -> dict[str, int]:
    query = access.visible_requests(user).with_only_columns(Request.status, func.count(Request.id))
    return dict(db.session.execute(query.group_by(Request.status)).all())


def forget() -> None:
    """Every cached count is out of date from now on."""
    try:
        redis_connection().incr(GENERATION_KEY)
    except RedisError as error:
        log.warning("Request counts could not be invalidated (they expire in %s s): %s", COUNTS_TTL_SECONDS, error)


def _changes_counts(obj: object) -> bool:
    if not isinstance(obj, Request):
        return False
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in ("status", "responsible_id", "responsible"))


@event.listens_for(Session, "before_flush")
def _note_count_changes(session: Session, _flush_context, _instances) -> None:
    """Added or deleted requests, and status or responsible changes, are noted before the flush
    (after it their history is gone); the counts are forgotten once the commit is done."""
    if any(isinstance(obj, Request) for obj in (*session.new, *session.deleted)) or any(
        _changes_counts(obj) for obj in session.dirty
    ):
        session.info[_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _forget_after_commit(session: Session) -> None:
    if session.info.pop(_CHANGED, False):
        forget()


@event.listens_for(Session, "after_rollback")
def _keep_after_rollback(session: Session) -> None:
    session.info.pop(_CHANGED, None)
