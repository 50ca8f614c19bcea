"""THE access policy: which records a user may see, and which of them he may change.

Every view, API, popup, search and feed asks this module; nothing else filters records by user.

Writes (SPEC §3: a manager with scope "own" never hands or takes records from colleagues). On a
*shared client* — a colleague's organisation he sees only through his own request there — such a
manager may see it and add his own requests and reminders on it; he may not edit its fields, take
it over, leave it without a responsible, delete it, nor add, edit or delete its contacts. Nobody
with scope "own" sets a record's responsible to nobody (the record would vanish from every "own"
list). A record he cannot see answers 404; a record he sees but may not change answers 403 with
the reason (REST), or the reason flashed on its page (HTML): `WriteRefused` carries both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, current_app, g, has_request_context, request
from flask_appbuilder.models.filters import BaseFilter
from flask_babel import gettext as _
from sqlalchemy import Select, and_, false, inspect, or_, select
from sqlalchemy.sql.elements import ColumnElement

from app.extensions import db
from app.models.agent_devices import AgentDevice
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


def may_see_reports(user: CrmUser | None) -> bool:
    """The head of sales' reports: the administrator and managers who see every record."""
    return user is not None and sees_everything(user)


# Menu entries of tools for the whole department; their views check the same rules themselves.
DEPARTMENT_MENU_ENTRIES = {"Reports": may_see_reports, "Import": lambda user: may_import_clients(user)}


def shows_menu_entry(user: CrmUser | None, name: str) -> bool:
    """Whether the menu offers the entry to the user: a manager with scope "own" is not shown
    tools that would only refuse him."""
    rule = DEPARTMENT_MENU_ENTRIES.get(name)
    return rule is None or (bool(getattr(user, "is_authenticated", False)) and rule(user))


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

    A manager with scope "own" cannot hand records to colleagues (he would lose them), create them
    in a colleague's name, nor leave them with nobody responsible (they would vanish from every
    "own" list); keeping the current responsible is allowed.
    """
    if user is None:
        return False
    return sees_everything(user) or (assignee_id is not None and assignee_id in (user.id, current_id))


class WriteRefused(Exception):
    """A write the user may not make on a record he can see, or one its dependants forbid.

    `status` is the REST answer (403: not his to change; 409: other records depend on it); the
    message, in the user's language, is the REST body's and the HTML flash's.
    """

    def __init__(self, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def __str__(self) -> str:
        return self.message


def colleagues_client_message() -> str:
    return _(
        "This is a colleague's client: you may see it and add your own requests and reminders, "
        "but not change its data or contacts."
    )


def nobody_responsible_message() -> str:
    return _("Choose the responsible manager: a record cannot be left without one.")


def organization_write_clause(user: CrmUser | None) -> ColumnElement[bool] | None:
    """Organisations whose data and contacts the user may change; None means all.

    With scope "own": only those he is responsible for (not the shared clients he sees through
    his requests).
    """
    if user is None:
        return false()
    if sees_everything(user):
        return None
    return Organization.responsible_id == user.id


def may_change_organization(organization_id: int | None, user: CrmUser | None = None) -> bool:
    """Whether the user may edit or delete the organisation and its contacts, as it is stored now.

    Read from the database, not from the object: in a pre_update hook the object already holds
    the submitted values (a "take over" would otherwise pass its own check).
    """
    user = user or current_user()
    if organization_id is None or user is None:
        return False
    clause = organization_write_clause(user)
    if clause is None:
        return True
    query = select(Organization.id).where(Organization.id == organization_id, clause)
    with db.session.no_autoflush:
        return db.session.execute(query).first() is not None


def check_organization_write(organization: Organization) -> None:
    """Raise WriteRefused unless the user may change this stored organisation."""
    if organization.id is not None and not may_change_organization(organization.id):
        raise WriteRefused(colleagues_client_message())


def check_contact_write(contact: Contact, deleting: bool = False) -> None:
    """A contact is changed only by who may change its organisation: the stored one and the new one."""
    stored_organization_id = None
    if contact.id is not None:
        with db.session.no_autoflush:
            stored_organization_id = db.session.execute(
                select(Contact.organization_id).where(Contact.id == contact.id)
            ).scalar_one_or_none()
    new = contact.organization.id if contact.organization is not None else contact.organization_id
    if deleting:
        new = None
    for organization_id in {stored_organization_id, new} - {None}:
        if not may_change_organization(organization_id):
            raise WriteRefused(colleagues_client_message())


def check_responsible_write(record: Organization | Request) -> None:
    """Raise WriteRefused when the record's (new) responsible is one the user may not set."""
    if check_responsible_change(record):
        return
    has_one = record.responsible is not None or record.responsible_id is not None
    raise WriteRefused(nobody_responsible_message() if not has_one else _("You may not make a colleague responsible."))


def check_responsible_change(record: Organization | Request) -> bool:
    """The write check for views and APIs: is the record's (new) responsible allowed?

    The new value is the relationship's when it was set (`null` by REST leaves the old id in the
    column until the flush), else the column's; the old one is the stored row's.
    """
    state = inspect(record)
    relation = state.attrs.responsible.history
    if relation.has_changes():
        new = relation.added[0].id if relation.added and relation.added[0] is not None else None
    elif state.attrs.responsible_id.history.has_changes() or record.responsible is None:
        new = record.responsible_id
    else:
        new = record.responsible.id
    old = None
    if record.id is not None and not state.pending:
        model = type(record)
        with db.session.no_autoflush:
            old = db.session.execute(select(model.responsible_id).where(model.id == record.id)).scalar_one_or_none()
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


def administrator_or_404() -> None:
    """Pages of the administrator alone (backups, department settings) do not exist for others."""
    if not is_administrator(current_user()):
        abort(404)


def agent_device_clause(user: CrmUser | None) -> ColumnElement[bool] | None:
    """Connected Agents: each manager sees and disconnects his own; the administrator everyone's."""
    if user is None:
        return false()
    return None if is_administrator(user) else AgentDevice.user_id == user.id


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
# Organisations a contact may be attached to: those whose contacts the user may change.
ORGANIZATION_WRITE_FILTERS = [["id", _policy_filter(organization_write_clause), None]]
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
