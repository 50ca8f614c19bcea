"""«Сегодня», the start page: what a manager (or the whole department) has to do now.

Every block starts from the access policy's selects (app/access.py) and the radar's clauses
(app/domain/activity.py); each is one count and one page of rows, so the page costs the same number
of queries whatever the data size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from app import access
from app.domain import activity
from app.domain import reminders as reminder_domain
from app.models.events import AgentEvent
from app.models.reminders import Reminder
from app.models.requests import Request
from app.models.stamps import utcnow
from app.models.users import CrmUser
from app.models.visits import StartPageVisit

ROWS_PER_BLOCK = 10
EVENTS_SHOWN = 10
# Two openings of the start page closer than this are one visit: a reload keeps "new" things new.
VISIT_GAP = timedelta(minutes=30)
# What "new" means on the first visit ever.
FIRST_VISIT_LOOKBACK = timedelta(days=7)


@dataclass
class Block:
    """One block of the page: how many there are, the first rows, and the list with all of them."""

    count: int
    rows: list[Any]
    list_args: dict[str, str] = field(default_factory=dict)


@dataclass
class Today:
    subject: CrmUser | None  # whose day is shown; None: the whole department (the administrator)
    since: datetime
    reminders: Block
    needs_action: Block
    new_requests: Block
    events: Block


def record_visit(session: Session, user: CrmUser, now: datetime | None = None) -> datetime | None:
    """Note that the user opened the start page; returns the time of his previous visit."""
    now = now or utcnow()
    visit = session.get(StartPageVisit, user.id)
    if visit is None:
        session.add(StartPageVisit(user_id=user.id, previous_at=None, seen_at=now))
        try:
            session.commit()
        except IntegrityError:  # two tabs at once: the other one wrote it
            session.rollback()
        return None
    if now - reminder_domain.as_utc(visit.seen_at) > VISIT_GAP:
        visit.previous_at = visit.seen_at
    visit.seen_at = now
    previous = visit.previous_at
    session.commit()
    return reminder_domain.as_utc(previous) if previous is not None else None


def previous_visit(session: Session, user: CrmUser) -> datetime | None:
    """For the administrator looking at a manager's day: that manager's last visit, untouched."""
    visit = session.get(StartPageVisit, user.id)
    moment = visit.previous_at if visit is not None else None
    return reminder_domain.as_utc(moment) if moment is not None else None


def _count(session: Session, query: Select) -> int:
    return session.execute(query.with_only_columns(func.count()).order_by(None)).scalar_one()


def _his_requests(viewer: CrmUser, subject: CrmUser | None) -> Select:
    query = access.visible_requests(viewer)
    return query if subject is None else query.where(Request.responsible_id == subject.id)


def compute(
    session: Session, viewer: CrmUser, subject: CrmUser | None, since: datetime | None, now: datetime | None = None
) -> Today:
    """The start page of `subject` as `viewer` may see it (subject None: the department)."""
    now = now or utcnow()
    zone = reminder_domain.user_zone(subject or viewer)
    today = now.astimezone(zone).date()
    since = since or now - FIRST_VISIT_LOOKBACK
    person = {"responsible": str(subject.id)} if subject is not None else {}

    reminders = access.visible_reminders(viewer).where(
        Reminder.done_at.is_(None), Reminder.due_at < reminder_domain.end_of_today(subject or viewer, now)
    )
    if subject is not None:
        reminders = reminders.where(Reminder.owner_id == subject.id)
    reminder_rows = session.scalars(
        reminders.options(
            selectinload(Reminder.request), selectinload(Reminder.organization), selectinload(Reminder.owner)
        )
        .order_by(Reminder.due_at)
        .limit(ROWS_PER_BLOCK)
    ).all()

    needing = _his_requests(viewer, subject).where(activity.needs_action_clause(today, now))
    # The ten are chosen by id alone, then loaded: sorting whole rows with their eager-loaded joins
    # could not stop at ten, and for a department (tens of thousands of open quiet requests) the
    # database sorted every one of them on disk (200 ms at 50,000 organisations; now a top-10).
    urgent_first = (Request.next_step_on.is_(None), Request.next_step_on, Request.last_activity_at, Request.id)
    first_ten = needing.with_only_columns(Request.id).order_by(*urgent_first).limit(ROWS_PER_BLOCK)
    needing_rows = session.scalars(select(Request).where(Request.id.in_(first_ten)).order_by(*urgent_first)).all()

    new = _his_requests(viewer, subject).where(Request.created_on > since)
    new_rows = session.scalars(new.order_by(Request.id.desc()).limit(ROWS_PER_BLOCK)).all()

    events = select(AgentEvent).where(access.event_clause(viewer))
    if subject is not None:
        his = select(Request.id).where(Request.responsible_id == subject.id)
        events = events.where(or_(AgentEvent.recipient_id == subject.id, AgentEvent.request_id.in_(his)))
    event_rows = session.scalars(events.order_by(AgentEvent.id.desc()).limit(EVENTS_SHOWN)).all()

    return Today(
        subject=subject,
        since=since,
        reminders=Block(_count(session, reminders), list(reminder_rows)),
        needs_action=Block(_count(session, needing), list(needing_rows), {**person, "attention": "needs_action"}),
        new_requests=Block(_count(session, new), list(new_rows), {**person, "created_since": since.isoformat()}),
        events=Block(_count(session, events.where(AgentEvent.created_on > since)), list(event_rows)),
    )
