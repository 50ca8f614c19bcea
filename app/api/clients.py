"""REST resources of the client base: /api/v1/organization/ and /api/v1/contact/."""

from __future__ import annotations

from flask import g
from flask_appbuilder.models.sqla.interface import SQLAInterface
from werkzeug.exceptions import BadRequest

from app import access
from app.api.base import CrmModelRestApi
from app.api.write_rules import WriteRulesMixin
from app.domain import deletion
from app.extensions import db
from app.models.clients import Contact, Organization
from app.search import QuickSearchFilter
from app.validation import CONTACT_RULES, ORGANIZATION_RULES, api_validators

ORGANIZATION_FIELDS = ["name", "inn", "industry", "city", "address", "phones", "email", "website", "notes"]
CONTACT_FIELDS = ["full_name", "position", "work_phone", "mobile_phone", "email", "is_primary", "notes"]


class OrganizationApi(WriteRulesMixin, CrmModelRestApi):
    resource_name = "organization"
    datamodel = SQLAInterface(Organization)
    base_filters = access.ORGANIZATION_BASE_FILTERS
    allow_browser_login = True
    list_columns = ["id", *ORGANIZATION_FIELDS, "responsible.id", "responsible.username", "changed_on"]
    show_columns = [*list_columns, "created_on", "contacts.id", "contacts.full_name"]
    add_columns = [*ORGANIZATION_FIELDS, "responsible"]
    edit_columns = add_columns
    search_columns = ["name", "inn", "city", "email", "phones", "responsible", "search_text"]
    search_filters = {"search_text": [QuickSearchFilter]}
    order_columns = ["name", "inn", "city", "changed_on"]
    validators_columns = api_validators(ORGANIZATION_RULES)

    add_query_rel_fields = {"responsible": access.ASSIGNABLE_USER_FILTERS}
    edit_query_rel_fields = {"responsible": access.ORGANIZATION_ASSIGNEE_FILTERS}

    def pre_add(self, item: Organization) -> None:
        if item.responsible is None:
            item.responsible = g.user
        access.check_responsible_write(item)

    def pre_update(self, item: Organization) -> None:
        access.check_organization_write(item)
        access.check_responsible_write(item)

    def pre_delete(self, item: Organization) -> None:
        access.check_organization_write(item)
        deletion.prepare_organization_deletion(db.session, item)


class ContactApi(WriteRulesMixin, CrmModelRestApi):
    resource_name = "contact"
    datamodel = SQLAInterface(Contact)
    base_filters = access.CONTACT_BASE_FILTERS
    allow_browser_login = True
    list_columns = ["id", "organization.id", "organization.name", *CONTACT_FIELDS]
    show_columns = list_columns
    add_columns = ["organization", *CONTACT_FIELDS]
    edit_columns = add_columns
    search_columns = ["full_name", "email", "organization", "is_primary"]
    validators_columns = api_validators(CONTACT_RULES)
    add_query_rel_fields = {"organization": access.ORGANIZATION_WRITE_FILTERS}
    edit_query_rel_fields = add_query_rel_fields

    def pre_add(self, item: Contact) -> None:
        self._check_organization(item)

    def pre_update(self, item: Contact) -> None:
        self._check_organization(item)

    def pre_delete(self, item: Contact) -> None:
        access.check_contact_write(item, deleting=True)

    @staticmethod
    def _check_organization(item: Contact) -> None:
        """A contact may only be attached to an organisation the caller can see (400 otherwise) and
        change (403: a colleague's client)."""
        if item.organization is not None and not access.can_see_organization(item.organization.id):
            raise BadRequest("organization")
        access.check_contact_write(item)
