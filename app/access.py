"""THE access policy: which records a user may see.

Every view, API, popup, search and feed asks this module; nothing else filters records by user.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, current_app, g, has_request_context, request
from flask_appbuilder.models.filters import BaseFilter
from sqlalchemy import Select, and_, false, inspect, or_, select
from sqlalchemy.sql.elements import ColumnElement

from app.extensions import db
from app.models.clients import Contact, Organization
from app.models.events import AgentEvent
from app.models.reminders import Reminder
from app.models.requests import Request, RequestDocument
from app.models.users import CrmUser, RecordScope


def current_user() -> CrmUser | None:
    user = getattr(g, "user", None)
    return user if user is not None and getattr(user, "is_authenticated", False) else None


def sees_everything(user: CrmUser) -> bool:
    """The administrator, and managers whose scope is "all records"."""
    if is_administrator(user):
        return True
    return getattr(user, "record_scope", RecordScope.OWN) == RecordScope.ALL


def organization_clause(user: CrmUser | None) -> ColumnElement[bool] | None:
    """The condition an organisation must meet to be visible to the user; None means all.

    With scope "own": the organisations he is responsible for, and those with a request he is
    responsible for. An anonymous caller sees nothing.
    """
    if user is None:
        return false()
    if sees_everything(user):
        return None
    # EXISTS, not IN: checking one organisation is one index probe, where IN hashed all his requests'
    # organisations first (3 ms at 30,000 requests); for a whole list PostgreSQL hashes them anyway.
    his_request_there = (
        select(Request.id).where(Request.organization_id == Organization.id, Request.responsible_id == user.id).exists()
    )
    return or_(Organization.responsible_id == user.id, his_request_there)


def visible_organizations(user: CrmUser | None = None) -> Select:
    query = select(Organization)
    clause = organization_clause(user or current_user())
    return query if clause is None else query.where(clause)


def can_see_organization(pk: int, user: CrmUser | None = None) -> bool:
    query = visible_organizations(user).where(Organization.id == pk).with_only_columns(Organization.id)
    with db.session.no_autoflush:  # called while a new record is being checked, before it is added
        return db.session.execute(query).first() is not None


def get_organization_or_404(pk: int, user: CrmUser | None = None) -> Organization:
    """The organisation if the user may see it; otherwise 404, never its data."""
    organization = db.session.execute(visible_organizations(user).where(Organization.id == pk)).scalar_one_or_none()
    if organization is None:
        abort(404)
    return organization


def request_clause(user: CrmUser | None) -> ColumnElement[bool] | None:
    """The condition a request must meet to be visible to the user; None means all.

    With scope "own": the requests he is responsible for, whoever owns their organisation.
    """
    if user is None:
        return false()
    if sees_everything(user):
        return None
    return Request.responsible_id == user.id


def may_assign_to(user: CrmUser | None, assignee_id: int | None, current_id: int | None = None) -> bool:
    """Whether the user may make `assignee_id` responsible for a record now held by `current_id`.

    A manager with scope "own" cannot hand records to colleagues (he would lose them) nor create
    them in a colleague's name; keeping the current responsible is always allowed.
    """
    if user is None:
        return False
    return sees_everything(user) or assignee_id in (None, user.id, current_id)


def check_responsible_change(record: Organization | Request) -> bool:
    """The write check for views and APIs: is the record's (new) responsible allowed?"""
    state = inspect(record)
    history = state.attrs.responsible.history
    new = record.responsible.id if record.responsible is not None else record.responsible_id
    old = history.deleted[0].id if history.deleted and history.deleted[0] is not None else None
    if not state.pending and old is None and not history.has_changes():
        old = new
    return may_assign_to(current_user(), new, old)


def assignable_users_clause(user: CrmUser | None, keep_id: int | None = None) -> ColumnElement[bool] | None:
    if user is None:
        return false()
    if sees_everything(user):
        return None
    return CrmUser.id.in_([user.id, keep_id]) if keep_id else CrmUser.id == user.id


def current_responsible_of(model: type[Organization] | type[Request]) -> Callable[[], int | None]:
    """For an edit form: the responsible of the record being edited, kept among the choices."""

    def lookup() -> int | None:
        pk = (request.view_args or {}).get("pk") if has_request_context() else None
        if pk is None or not str(pk).isdigit():
            return None
        return db.session.execute(select(model.responsible_id).where(model.id == int(pk))).scalar_one_or_none()

    return lookup


def visible_requests(user: CrmUser | None = None) -> Select:
    query = select(Request)
    clause = request_clause(user or current_user())
    return query if clause is None else query.where(clause)


def find_visible_request(pk: int, user: CrmUser | None = None) -> Request | None:
    return db.session.execute(visible_requests(user).where(Request.id == pk)).scalar_one_or_none()


def get_request_or_404(pk: int, user: CrmUser | None = None) -> Request:
    found = find_visible_request(pk, user)
    if found is None:
        abort(404)
    return found


def get_document_or_404(pk: int, user: CrmUser | None = None) -> RequestDocument:
    """A document is reachable exactly when its request is."""
    document = db.session.get(RequestDocument, pk)
    if document is None:
        abort(404)
    get_request_or_404(document.request_id, user)
    return document


def is_administrator(user: CrmUser | None) -> bool:
    return user is not None and any(role.name == current_app.config["AUTH_ROLE_ADMIN"] for role in user.roles)


def reminder_clause(user: CrmUser | None) -> ColumnElement[bool] | None:
    """Reminders are personal: each manager his own; the administrator sees everyone's."""
    if user is None:
        return false()
    return None if is_administrator(user) else Reminder.owner_id == user.id


def visible_reminders(user: CrmUser | None = None) -> Select:
    query = select(Reminder)
    clause = reminder_clause(user or current_user())
    return query if clause is None else query.where(clause)


def get_reminder_or_404(pk: int, user: CrmUser | None = None) -> Reminder:
    reminder = db.session.execute(visible_reminders(user).where(Reminder.id == pk)).scalar_one_or_none()
    if reminder is None:
        abort(404)
    return reminder


def event_clause(user: CrmUser) -> ColumnElement[bool]:
    """The Agent feed: reminders addressed to the user, and events of requests he may see."""
    addressed = AgentEvent.recipient_id == user.id
    requests = request_clause(user)
    request_events = and_(AgentEvent.recipient_id.is_(None), AgentEvent.request_id.is_not(None))
    if requests is not None:
        request_events = and_(request_events, AgentEvent.request_id.in_(select(Request.id).where(requests)))
    return or_(addressed, request_events)


def contact_clause(user: CrmUser | None) -> ColumnElement[bool] | None:
    """Contacts are visible with their organisation."""
    clause = organization_clause(user)
    return None if clause is None else Contact.organization_id.in_(select(Organization.id).where(clause))


def _policy_filter(clause_for: Callable[[CrmUser | None], ColumnElement[bool] | None]) -> type[BaseFilter]:
    """A FAB base filter that applies one of the clauses above to every query of a view or API."""

    class VisibleToTheUser(BaseFilter):
        name = "Visible to the user"
        arg_name = "visible"

        def apply(self, query: Any, value: Any) -> Any:
            clause = clause_for(current_user())
            return query if clause is None else query.filter(clause)

    return VisibleToTheUser


class AssignableUsers(BaseFilter):
    """Users the current one may make responsible: everybody, or only himself with scope "own"."""

    name = "Assignable by the user"
    arg_name = "assignable"

    def apply(self, query: Any, value: Any) -> Any:
        keep_id = value() if callable(value) else None
        clause = assignable_users_clause(current_user(), keep_id)
        return query if clause is None else query.filter(clause)


ORGANIZATION_BASE_FILTERS = [["id", _policy_filter(organization_clause), None]]
CONTACT_BASE_FILTERS = [["id", _policy_filter(contact_clause), None]]
REQUEST_BASE_FILTERS = [["id", _policy_filter(request_clause), None]]
REMINDER_BASE_FILTERS = [["id", _policy_filter(reminder_clause), None]]
ASSIGNABLE_USER_FILTERS = [["id", AssignableUsers, None]]
ORGANIZATION_ASSIGNEE_FILTERS = [["id", AssignableUsers, current_responsible_of(Organization)]]
REQUEST_ASSIGNEE_FILTERS = [["id", AssignableUsers, current_responsible_of(Request)]]


def may_import_clients(user: CrmUser | None) -> bool:
    """Imports write into the whole client base (merging into anyone's organisation): only the
    administrator and managers with scope "all"."""
    return user is not None and sees_everything(user)


def import_batch_clause(user: CrmUser | None) -> ColumnElement[bool] | None:
    """Imports are seen by whoever may import; a manager sees his own, the administrator all."""
    from app.models.imports import ImportBatch

    if not may_import_clients(user):
        return false()
    return None if is_administrator(user) else ImportBatch.user_id == user.id
