"""Reminders as the database knows them: set, moved, done, claimed for sending, sent or failed.

The database is the source of truth. Scheduling a job at the reminder's time is only the fast
path (app/jobs/reminders.py); the periodic sweep finds anything due that the fast path missed.
"""

from __future__ import annotations

from dataclasses import dataclass
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


MORNING = time(9, 0)


@dataclass(frozen=True)
class NextStepReminder:
    """What a request card offers for its next step: the reminder already set, or one click to set
    it, at `due` (the user's wall-clock time) or by the form's `preset` (counted when it is sent)."""

    existing: Reminder | None = None
    due: datetime | None = None
    preset: str | None = None
    today: bool = False  # `due` is later today (the button names the hour), not on the step's day


def next_step_reminder(
    session: Session, user: CrmUser, request: Request, now: datetime | None = None
) -> NextStepReminder | None:
    """The one-click reminder of the next step, never at a time already gone.

    Ahead: on its day at 9:00. Today: 9:00 if still ahead, else the next full hour. Past (or today
    after 23:00): «in an hour». Shown instead of the button: the user's open reminder about the
    request on the step's day, or, for a step already past, one still ahead (a reminder that has
    fired already is on his start page; the button offers a new one).
    """
    step = request.next_step_on
    if step is None:
        return None
    now = now or utcnow()
    zone = user_zone(user)
    local_now = now.astimezone(zone).replace(tzinfo=None)
    today = local_now.date()
    when = (
        [
            Reminder.due_at >= local_to_utc(datetime.combine(step, time(0, 0)), zone),
            Reminder.due_at < local_to_utc(datetime.combine(step + timedelta(days=1), time(0, 0)), zone),
        ]
        if step >= today
        else [Reminder.due_at >= now]
    )
    existing = session.scalars(
        select(Reminder)
        .where(Reminder.owner_id == user.id, Reminder.request_id == request.id, Reminder.done_at.is_(None), *when)
        .order_by(Reminder.due_at)
        .limit(1)
    ).first()
    if existing is not None:
        return NextStepReminder(existing=existing)
    if step > today:
        return NextStepReminder(due=datetime.combine(step, MORNING))
    if step == today:
        morning = datetime.combine(today, MORNING)
        next_hour = local_now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        if local_now < morning:
            return NextStepReminder(due=morning, today=True)
        if next_hour.date() == today:
            return NextStepReminder(due=next_hour, today=True)
    return NextStepReminder(preset="in_an_hour")


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
    a stale page or a second click must not send a delivered reminder twice.

    Decided by the row, not by the loaded object: an atomic `UPDATE … WHERE delivery = 'failed'`,
    so of two resends milliseconds apart only one finds the reminder failed. The caller commits.
    Either way the reminder is reloaded, so it tells the state it is really in.
    """
    session = Session.object_session(reminder)
    resent = session.execute(
        update(Reminder)
        .where(Reminder.id == reminder.id, Reminder.delivery == Delivery.FAILED, Reminder.done_at.is_(None))
        .values(delivery=Delivery.PENDING, next_attempt_at=utcnow(), attempts=0, last_error=None)
        .execution_options(synchronize_session=False)
    )
    session.refresh(reminder)
    return resent.rowcount == 1


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
