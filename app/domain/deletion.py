"""What deleting a record takes with it, and when a deletion must be refused.

An organisation with requests is refused for everyone (the requests are the department's history
and their numbers are never reused): the user deletes or moves them first. Without requests its
contacts and reminders go with it. A user with any history in the CRM is refused too: deleting him
would erase who did what; he is deactivated instead.
"""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from app.access import WriteRefused
from app.models.audit import AuditEntry
from app.models.clients import Contact, Organization
from app.models.events import AgentEvent
from app.models.reminders import Reminder
from app.models.requests import DeliveryChange, Request, RequestComment, RequestDocument, StatusChange

# 409: the record itself may be deleted by this user, but other records depend on it.
CONFLICT = 409


def organization_deletion_refusal(session: Session, organization: Organization) -> str | None:
    """Why the organisation may not be deleted (it still has requests, counted), or None."""
    with session.no_autoflush:
        count = session.scalar(select(func.count(Request.id)).where(Request.organization_id == organization.id))
    return _("The organisation has requests (%(count)s): delete or move them first.", count=count) if count else None


def check_organization_deletion(session: Session, organization: Organization) -> None:
    """Refuse (409) to delete an organisation that still has requests."""
    message = organization_deletion_refusal(session, organization)
    if message:
        raise WriteRefused(message, CONFLICT)


def delete_organization_reminders(session: Session, organization: Organization) -> None:
    """Reminders about the organisation go with it, with their Agent events.

    Explicitly, not by the foreign key's ON DELETE CASCADE alone: SQLite does not enforce it.
    """
    reminder_ids = select(Reminder.id).where(Reminder.organization_id == organization.id)
    session.execute(delete(AgentEvent).where(AgentEvent.reminder_id.in_(reminder_ids)))
    session.execute(delete(Reminder).where(Reminder.organization_id == organization.id))


def prepare_organization_deletion(session: Session, organization: Organization) -> None:
    """Before an organisation is deleted, by a form or by REST: refused while it has requests;
    otherwise its reminders go first (its contacts go by the relationship's cascade)."""
    check_organization_deletion(session, organization)
    delete_organization_reminders(session, organization)


def user_history_count(session: Session, user_id: int) -> int:
    """How many rows name the user as author, actor, owner or responsible."""
    questions = [
        select(func.count()).where(AuditEntry.user_id == user_id),
        select(func.count()).where(StatusChange.changed_by_fk == user_id),
        select(func.count()).where(DeliveryChange.changed_by_fk == user_id),
        select(func.count()).where(RequestComment.author_id == user_id),
        select(func.count()).where(RequestDocument.uploaded_by_fk == user_id),
        select(func.count()).where(
            or_(Request.responsible_id == user_id, Request.created_by_fk == user_id, Request.changed_by_fk == user_id)
        ),
        select(func.count()).where(
            or_(
                Organization.responsible_id == user_id,
                Organization.created_by_fk == user_id,
                Organization.changed_by_fk == user_id,
            )
        ),
        select(func.count()).where(or_(Contact.created_by_fk == user_id, Contact.changed_by_fk == user_id)),
        select(func.count()).where(Reminder.owner_id == user_id),
        select(func.count()).where(AgentEvent.actor_id == user_id),
    ]
    with session.no_autoflush:
        return sum(session.scalar(question) or 0 for question in questions)


def check_user_deletion(session: Session, user_id: int) -> None:
    """Refuse to delete a user who has a history; offer deactivation instead."""
    count = user_history_count(session, user_id)
    if count:
        raise WriteRefused(
            _(
                "This user has a history in the CRM (%(count)s records): deleting him would erase who did what. "
                "Deactivate him instead: edit the user and untick «Is Active?».",
                count=count,
            ),
            CONFLICT,
        )
