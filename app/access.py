"""THE access policy: which records a user may see.

Every view, API, popup, search and feed asks this module; nothing else filters records by user.
"""

from __future__ import annotations

from typing import Any

from flask import abort, g
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import Select, select
from sqlalchemy.sql.elements import ColumnElement

from app.extensions import db
from app.models.clients import Contact, Organization
from app.models.requests import Request, RequestDocument


def current_user() -> User | None:
    user = getattr(g, "user", None)
    return user if user is not None and getattr(user, "is_authenticated", False) else None


def organization_clause(user: User | None) -> ColumnElement[bool] | None:
    """The condition an organisation must meet to be visible to the user; None means all.

    An anonymous caller sees nothing. Per-manager scopes ("own records only") hook in here.
    """
    if user is None:
        return Organization.id.is_(None)
    return None


def visible_organizations(user: User | None = None) -> Select:
    query = select(Organization)
    clause = organization_clause(user or current_user())
    return query if clause is None else query.where(clause)


def can_see_organization(pk: int, user: User | None = None) -> bool:
    query = visible_organizations(user).where(Organization.id == pk).with_only_columns(Organization.id)
    with db.session.no_autoflush:  # called while a new record is being checked, before it is added
        return db.session.execute(query).first() is not None


def get_organization_or_404(pk: int, user: User | None = None) -> Organization:
    """The organisation if the user may see it; otherwise 404, never its data."""
    organization = db.session.execute(visible_organizations(user).where(Organization.id == pk)).scalar_one_or_none()
    if organization is None:
        abort(404)
    return organization


def request_clause(user: User | None) -> ColumnElement[bool] | None:
    """The condition a request must meet to be visible to the user; None means all."""
    if user is None:
        return Request.id.is_(None)
    return None


def visible_requests(user: User | None = None) -> Select:
    query = select(Request)
    clause = request_clause(user or current_user())
    return query if clause is None else query.where(clause)


def find_visible_request(pk: int, user: User | None = None) -> Request | None:
    return db.session.execute(visible_requests(user).where(Request.id == pk)).scalar_one_or_none()


def get_request_or_404(pk: int, user: User | None = None) -> Request:
    request = find_visible_request(pk, user)
    if request is None:
        abort(404)
    return request


def get_document_or_404(pk: int, user: User | None = None) -> RequestDocument:
    """A document is reachable exactly when its request is."""
    document = db.session.get(RequestDocument, pk)
    if document is None:
        abort(404)
    get_request_or_404(document.request_id, user)
    return document


class VisibleOrganizations(BaseFilter):
    """FAB base filter for organisation views and APIs: applies the policy to every query."""

    name = "Visible to the user"
    arg_name = "visible"

    def apply(self, query: Any, value: Any) -> Any:
        clause = organization_clause(current_user())
        return query if clause is None else query.filter(clause)


class VisibleContacts(BaseFilter):
    """Contacts are visible with their organisation."""

    name = "Visible to the user"
    arg_name = "visible"

    def apply(self, query: Any, value: Any) -> Any:
        clause = organization_clause(current_user())
        if clause is None:
            return query
        return query.filter(Contact.organization_id.in_(select(Organization.id).where(clause)))


class VisibleRequests(BaseFilter):
    name = "Visible to the user"
    arg_name = "visible"

    def apply(self, query: Any, value: Any) -> Any:
        clause = request_clause(current_user())
        return query if clause is None else query.filter(clause)


ORGANIZATION_BASE_FILTERS = [["id", VisibleOrganizations, lambda: None]]
CONTACT_BASE_FILTERS = [["id", VisibleContacts, lambda: None]]
REQUEST_BASE_FILTERS = [["id", VisibleRequests, lambda: None]]
