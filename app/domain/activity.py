"""What "stalled" and "needs action" mean, in one place, as SQL clauses.

The start page, the requests list, the board, the radar job and the reports compose these clauses
with the access policy's selects (app/access.py): none of them decides on its own. A request is
*stalled* when it is open and either has had no activity (status change, comment, document, item
change) for the administrator's number of days (app/domain/department_settings.py) or has the
status «Затормозилось»; it *needs action* when it is
stalled or its next step is due (today or earlier).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import current_app
from flask_appbuilder.models.filters import BaseFilter
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, event, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from app.domain import department_settings
from app.models.reminders import Delivery, Reminder
from app.models.requests import (
    DeliveryChange,
    Request,
    RequestComment,
    RequestDocument,
    RequestItem,
    RequestStatus,
    StatusChange,
)
from app.models.stamps import utcnow

OPEN_STATUSES = (RequestStatus.PREPARING_OFFER, RequestStatus.IN_PROGRESS, RequestStatus.STALLED)
# What counts as activity on a request: a new history line, comment or document; any item change.
_ACTIVITY_RECORDS = (StatusChange, DeliveryChange, RequestComment, RequestDocument, RequestItem)


def stalled_after_days() -> int:
    return department_settings.radar_settings().stalled_after_days


def quiet_line(now: datetime | None = None) -> datetime:
    """Activity older than this leaves a request stalled."""
    return (now or utcnow()) - timedelta(days=stalled_after_days())


def open_clause() -> ColumnElement[bool]:
    return Request.status.in_([status.value for status in OPEN_STATUSES])


def quiet_clause(now: datetime | None = None) -> ColumnElement[bool]:
    """Open and past the quiet line: what the radar reminds of (the status alone does not)."""
    return and_(open_clause(), Request.last_activity_at < quiet_line(now))


def stalled_clause(now: datetime | None = None) -> ColumnElement[bool]:
    return or_(Request.status == RequestStatus.STALLED.value, quiet_clause(now))


def next_step_due_clause(today: date) -> ColumnElement[bool]:
    return and_(open_clause(), Request.next_step_on <= today)


def needs_action_clause(today: date, now: datetime | None = None) -> ColumnElement[bool]:
    return or_(stalled_clause(now), next_step_due_clause(today))


def days_quiet(request: Request, now: datetime | None = None) -> int | None:
    """Whole days since the request's last activity (shown on cards and lists)."""
    if request.last_activity_at is None:
        return None
    last = request.last_activity_at
    last = last if last.tzinfo is not None else last.replace(tzinfo=UTC)  # SQLite: naive UTC
    return max(((now or utcnow()) - last).days, 0)


def is_stalled(request: Request, now: datetime | None = None) -> bool:
    """The same rule as stalled_clause(), for a row already loaded."""
    if request.status not in OPEN_STATUSES:
        return False
    quiet = days_quiet(request, now)
    return request.status == RequestStatus.STALLED or (quiet is not None and quiet >= stalled_after_days())


def next_step_due(request: Request, today: date) -> bool:
    return request.status in OPEN_STATUSES and request.next_step_on is not None and request.next_step_on <= today


@event.listens_for(Session, "before_flush")
def _note_activity(session: Session, _flush_context, _instances) -> None:
    """Every path that records activity (views, API, jobs) moves the request's last activity."""
    now = utcnow()
    touched: dict[int, Request] = {}
    for obj in session.new:
        if isinstance(obj, Request) and obj.last_activity_at is None:
            obj.last_activity_at = now
        elif isinstance(obj, _ACTIVITY_RECORDS) and obj.request is not None:
            touched[id(obj.request)] = obj.request
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, RequestItem) and obj.request is not None and session.is_modified(obj):
            touched[id(obj.request)] = obj.request
    for request in touched.values():
        if request not in session.deleted:
            request.last_activity_at = now


ATTENTION_KINDS = ("stalled", "needs_action", "next_step_due")


def attention_clause(kind: str, today: date, now: datetime | None = None) -> ColumnElement[bool] | None:
    """The clause behind a list link (`?attention=`); None for an unknown word."""
    if kind == "stalled":
        return stalled_clause(now)
    if kind == "needs_action":
        return needs_action_clause(today, now)
    if kind == "next_step_due":
        return next_step_due_clause(today)
    return None


def today_for_user() -> date:
    """Today in the logged-in user's zone: a next step is due by his calendar."""
    from app.formatting import user_timezone

    return utcnow().astimezone(user_timezone()).date()


class AttentionFilter(BaseFilter):
    """`?attention=stalled|needs_action|next_step_due` on the requests list (start page links)."""

    name = _l("Needs attention")
    arg_name = "attention"

    def apply(self, query: Any, value: Any) -> Any:
        clause = attention_clause(str(value), today_for_user())
        return query if clause is None else query.filter(clause)


class CreatedSince(BaseFilter):
    """`?created_since=<ISO time>`: the start page's «new since your last visit»."""

    name = _l("Created since")
    arg_name = "created_since"

    def apply(self, query: Any, value: Any) -> Any:
        try:
            since = datetime.fromisoformat(str(value))
        except ValueError:
            return query
        return query.filter(Request.created_on > (since if since.tzinfo else since.replace(tzinfo=UTC)))


class ResponsibleIs(BaseFilter):
    """`?responsible=<user id>`: narrows what the policy already lets the user see."""

    name = _l("Responsible")
    arg_name = "responsible"

    def apply(self, query: Any, value: Any) -> Any:
        return query.filter(Request.responsible_id == int(value)) if str(value).isdigit() else query


def _unreminded_spell() -> ColumnElement[bool]:
    """The request's current quiet spell has had no radar reminder yet."""
    return or_(Request.radar_reminded_for.is_(None), Request.radar_reminded_for != Request.last_activity_at)


def quiet_request_ids(session: Session, now: datetime, limit: int) -> list[int]:
    """Open requests past the quiet line whose responsible has not been reminded of this spell."""
    query = (
        select(Request.id)
        .where(quiet_clause(now), Request.responsible_id.is_not(None), _unreminded_spell())
        .order_by(Request.last_activity_at)
        .limit(limit)
    )
    return list(session.scalars(query))


def claim_quiet_spell(session: Session, request_id: int, now: datetime) -> Reminder | None:
    """Remind the responsible of his quiet request, once per quiet spell: of two radars only one wins.

    The spell is named by its start (last_activity_at), copied into radar_reminded_for by an atomic
    `UPDATE … WHERE`; new activity starts a new spell. The reminder is written in the same transaction.
    """
    claimed = session.execute(
        update(Request)
        .where(Request.id == request_id, quiet_clause(now), Request.responsible_id.is_not(None), _unreminded_spell())
        .values(radar_reminded_for=Request.last_activity_at)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        session.rollback()
        return None
    request = session.get(Request, request_id, populate_existing=True)
    with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
        text = _(
            "Request %(number)s (%(customer)s) has had no activity for %(days)d days: what is the next step?",
            number=request.number,
            customer=request.organization.name,
            days=days_quiet(request, now) or stalled_after_days(),
        )
    reminder = Reminder(
        owner_id=request.responsible_id,
        request_id=request.id,
        text=text,
        due_at=now,
        next_attempt_at=now,
        delivery=Delivery.PENDING,
    )
    session.add(reminder)
    session.commit()
    return reminder
