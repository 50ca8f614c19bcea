"""The Agent's feed: the caller's events after a signed cursor, oldest first, one page at a time."""

from __future__ import annotations

import hashlib
import hmac
import re

from flask import current_app
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from app import access, urls
from app.domain.events import subject_path
from app.models.events import AgentEvent, AgentSettings
from app.models.users import CrmUser

PAGE_SIZE = 100
_CURSOR = re.compile(r"^v1\.(\d{1,18})\.([0-9a-f]{20})$")


class BadCursor(ValueError):
    """The cursor was not issued to this user by this server."""


def _signature(user_id: int, event_id: int) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"agent:{user_id}:{event_id}".encode(), hashlib.sha256).hexdigest()[:20]


def make_cursor(user: CrmUser, event_id: int) -> str:
    return f"v1.{event_id}.{_signature(user.id, event_id)}"


def read_cursor(user: CrmUser, cursor: str) -> int:
    match = _CURSOR.match(cursor)
    if not match or not hmac.compare_digest(match.group(2), _signature(user.id, int(match.group(1)))):
        raise BadCursor(cursor)
    return int(match.group(1))


def settings_for(session: Session, user: CrmUser) -> AgentSettings:
    settings = session.get(AgentSettings, user.id)
    if settings is None:
        settings = AgentSettings(
            user_id=user.id,
            request_created=True,
            request_status=True,
            delivery_status=True,
            request_comment=True,
            reminder=True,
            poll_seconds=30,
        )
        session.add(settings)
    return settings


def page(session: Session, user: CrmUser, cursor: str | None) -> tuple[list[dict], str]:
    """Events after the cursor that the user may see and wants, never his own actions.

    Without a cursor the feed starts "now": a new Agent does not replay the history.
    """
    if not cursor:
        latest = session.execute(select(func.max(AgentEvent.id))).scalar_one() or 0
        return [], make_cursor(user, latest)
    after = read_cursor(user, cursor)
    kinds = settings_for(session, user).enabled_kinds()
    query = (
        select(AgentEvent)
        .where(
            AgentEvent.id > after,
            AgentEvent.kind.in_(kinds),
            or_(AgentEvent.actor_id.is_(None), AgentEvent.actor_id != user.id),
            access.event_clause(user),
        )
        .order_by(AgentEvent.id)
        .limit(PAGE_SIZE)
    )
    rows = session.execute(query).scalars().all()
    last = rows[-1].id if rows else after
    public_url = urls.public_url()
    events = [
        {
            "id": event.id,
            "kind": event.kind,
            "title": event.title,
            "message": event.message,
            "url": public_url + subject_path(event.request_id),
            "created_on": event.created_on.isoformat(),
        }
        for event in rows
    ]
    return events, make_cursor(user, last)
