"""Reminders as the database knows them: set, moved, done, claimed for sending, sent or failed.

The database is the source of truth. Scheduling a job at the reminder's time is only the fast
path (app/jobs/reminders.py); the periodic sweep finds anything due that the fast path missed.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from app.domain import events
from app.models.clients import Organization
from app.models.reminders import Delivery, Reminder
from app.models.requests import Request
from app.models.stamps import utcnow
from app.models.users import CrmUser


def as_utc(moment: datetime) -> datetime:
    """Aware UTC; SQLite hands back naive values that are UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def user_zone(user: CrmUser | None) -> ZoneInfo:
    return ZoneInfo((user.timezone if user is not None else None) or current_app.config["DEFAULT_TIMEZONE"])


def local_to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    """A wall-clock time the user typed, in his zone, as UTC (DST handled by zoneinfo)."""
    return local.replace(tzinfo=zone).astimezone(UTC)


def quick_choices(now: datetime, zone: ZoneInfo) -> dict[str, datetime]:
    """The form's shortcuts, as local wall-clock times: in an hour, tomorrow 9:00, next Monday 9:00."""
    local_now = now.astimezone(zone).replace(second=0, microsecond=0, tzinfo=None)
    tomorrow = local_now.date() + timedelta(days=1)
    monday = local_now.date() + timedelta(days=7 - local_now.weekday())
    return {
        "in_an_hour": local_now + timedelta(hours=1),
        "tomorrow_morning": datetime.combine(tomorrow, time(9, 0)),
        "next_monday": datetime.combine(monday, time(9, 0)),
    }


# A form filled slowly may name the current minute once it is sent: a few minutes' grace.
PAST_GRACE = timedelta(minutes=5)


def is_in_the_past(due_at: datetime, now: datetime | None = None) -> bool:
    """A reminder for a time already gone would fire at once, unnoticed: form and API refuse it."""
    return as_utc(due_at) < (now or utcnow()) - PAST_GRACE


def create_reminder(
    session: Session,
    owner: CrmUser,
    text: str,
    due_at: datetime,
    organization: Organization | None = None,
    request: Request | None = None,
) -> Reminder:
    due_at = as_utc(due_at)
    if request is not None:
        organization = None  # the request names its client already
    reminder = Reminder(
        owner=owner,
        text=text,
        due_at=due_at,
        next_attempt_at=due_at,
        delivery=Delivery.PENDING,
        organization=organization,
        request=request,
    )
    session.add(reminder)
    return reminder


def move(reminder: Reminder, due_at: datetime) -> None:
    """Snooze or reschedule: the reminder will be sent again at its new time."""
    due_at = as_utc(due_at)
    reminder.due_at = due_at
    reminder.next_attempt_at = due_at
    reminder.delivery = Delivery.PENDING
    reminder.attempts = 0
    reminder.claimed_at = None
    reminder.last_error = None
    reminder.done_at = None


def mark_done(reminder: Reminder) -> None:
    reminder.done_at = utcnow()


def resend(reminder: Reminder) -> bool:
    """After a failure, and only then: try the e-mail again now. False (nothing done) otherwise:
    a stale page or a second click must not send a delivered reminder twice."""
    if reminder.delivery != Delivery.FAILED or reminder.done_at is not None:
        return False
    reminder.delivery = Delivery.PENDING
    reminder.next_attempt_at = utcnow()
    reminder.attempts = 0
    reminder.last_error = None
    return True


def waiting_for_retry(now: datetime):
    """Reminders whose e-mail failed and that wait for the next attempt."""
    return and_(
        Reminder.done_at.is_(None),
        Reminder.delivery == Delivery.PENDING,
        Reminder.attempts > 0,
        Reminder.next_attempt_at > now,
    )


def any_waiting_for_retry(session: Session, now: datetime) -> bool:
    return session.execute(select(Reminder.id).where(waiting_for_retry(now)).limit(1)).first() is not None


def release_waiting_retries(session: Session, now: datetime) -> int:
    """The mail server answers again: every reminder waiting for a retry is due at once, so an
    outage delays reminders by the outage, not by the back-off table. Returns how many."""
    released = session.execute(
        update(Reminder)
        .where(waiting_for_retry(now))
        .values(next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return released.rowcount


def mark_delivered_without_email(session: Session, reminder: Reminder, claimed_at: datetime) -> bool:
    """No mail server configured: the claim already gave the Agent its event; the reminder is
    delivered there and in «Мои напоминания», never failed for a missing server."""
    done = session.execute(
        update(Reminder)
        .where(Reminder.id == reminder.id, Reminder.delivery == Delivery.SENDING, Reminder.claimed_at == claimed_at)
        .values(delivery=Delivery.NO_EMAIL, sent_at=utcnow(), last_error=None)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return done.rowcount == 1


def due_condition(now: datetime, lease_seconds: float):
    """Reminders to send now: pending and due, or stuck in "sending" past the lease (a killed worker)."""
    return and_(
        Reminder.done_at.is_(None),
        or_(
            and_(Reminder.delivery == Delivery.PENDING, Reminder.next_attempt_at <= now),
            and_(Reminder.delivery == Delivery.SENDING, Reminder.claimed_at < now - timedelta(seconds=lease_seconds)),
        ),
    )


def due_reminder_ids(session: Session, now: datetime, lease_seconds: float, limit: int) -> list[int]:
    query = select(Reminder.id).where(due_condition(now, lease_seconds)).order_by(Reminder.next_attempt_at)
    return list(session.execute(query.limit(limit)).scalars())


def claim(session: Session, reminder_id: int, now: datetime, lease_seconds: float) -> Reminder | None:
    """Take the reminder for sending, atomically: of two workers only one gets it.

    The first claim also records the Agent's event, in the same transaction.
    """
    claimed = session.execute(
        update(Reminder)
        .where(Reminder.id == reminder_id, due_condition(now, lease_seconds))
        .values(delivery=Delivery.SENDING, claimed_at=now, attempts=Reminder.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        session.rollback()
        return None
    reminder = session.get(Reminder, reminder_id, populate_existing=True)
    if reminder.attempts == 1:
        session.add(events.reminder_due(reminder))
    session.commit()
    return reminder


def mark_sent(session: Session, reminder: Reminder, claimed_at: datetime) -> bool:
    """Record the delivery, unless another worker took the reminder over meanwhile."""
    done = session.execute(
        update(Reminder)
        .where(Reminder.id == reminder.id, Reminder.delivery == Delivery.SENDING, Reminder.claimed_at == claimed_at)
        .values(delivery=Delivery.SENT, sent_at=utcnow(), last_error=None)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return done.rowcount == 1


def mark_attempt_failed(
    session: Session, reminder: Reminder, claimed_at: datetime, error: str, retry_delays: list[float]
) -> datetime | None:
    """Schedule the next attempt, or give up after the last one. Returns the next attempt's time."""
    attempt = reminder.attempts
    retry_at = utcnow() + timedelta(seconds=retry_delays[attempt - 1]) if attempt <= len(retry_delays) else None
    values = {"last_error": error[:2000], "delivery": Delivery.FAILED if retry_at is None else Delivery.PENDING}
    if retry_at is not None:
        values["next_attempt_at"] = retry_at
    session.execute(
        update(Reminder)
        .where(Reminder.id == reminder.id, Reminder.claimed_at == claimed_at)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return retry_at


def open_reminders_until(session: Session, user: CrmUser, until: datetime) -> int:
    """How many of the user's reminders are not done and due before `until` (overdue included)."""
    query = select(func.count(Reminder.id)).where(
        Reminder.owner_id == user.id, Reminder.done_at.is_(None), Reminder.due_at < until
    )
    return session.execute(query).scalar_one()


def end_of_today(user: CrmUser, now: datetime | None = None) -> datetime:
    zone = user_zone(user)
    local = (now or utcnow()).astimezone(zone)
    return local_to_utc(datetime.combine(local.date() + timedelta(days=1), time(0, 0)), zone)
