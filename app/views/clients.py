"""Web screens of the client base: organisations, their contacts and the quick card popup."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_appbuilder import expose, has_access
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.widgets import ListWidget
from flask_babel import lazy_gettext as _l

from app import access
from app.domain import deletion
from app.extensions import db
from app.formatting import mail_link, phone_links
from app.models.clients import Contact, Organization
from app.models.requests import Request
from app.search import HasRequestWithStatus, QuickSearchFilter
from app.validation import CONTACT_RULES, ORGANIZATION_RULES, form_validators
from app.views.base import CrmModelView, ResponsibleDefaultMixin, UrlParamFiltersMixin, customer_link
from app.views.contact_rows import ContactRowsField, build_contacts
from app.views.export import ExportMixin

ORGANIZATION_LABELS = {
    "name": _l("Name"),
    "inn": _l("INN"),
    "industry": _l("Industry"),
    "city": _l("City"),
    "address": _l("Address"),
    "phones": _l("Phones"),
    "email": _l("E-mail"),
    "website": _l("Website"),
    "notes": _l("Notes"),
    "responsible": _l("Responsible manager"),
    "created_by": _l("Created by"),
    "created_on": _l("Created on"),
    "changed_by": _l("Changed by"),
    "changed_on": _l("Changed on"),
}

CONTACT_LABELS = {
    "organization": _l("Organisation"),
    "full_name": _l("Full name"),
    "position": _l("Position"),
    "work_phone": _l("Work phone"),
    "mobile_phone": _l("Mobile phone"),
    "email": _l("E-mail"),
    "notes": _l("Notes"),
    "is_primary": _l("Primary contact"),
    "created_by": _l("Created by"),
    "created_on": _l("Created on"),
}


# The organisation page lists its latest requests; the whole list is a link away.
ORGANIZATION_PAGE_REQUESTS = 50


class LandOnRecordMixin:
    """After saving, the user lands on the record he saved, even when the form was opened by a
    direct URL (FAB would go back to its remembered page, else to the start page)."""

    def post_add(self, item) -> None:
        g.saved_record_id = item.id

    def post_add_redirect(self):
        saved = getattr(g, "saved_record_id", None)
        return redirect(url_for(".show", pk=saved)) if saved else super().post_add_redirect()

    def post_edit_redirect(self):
        pk = request.view_args.get("pk") if request.view_args else None
        return redirect(url_for(".show", pk=pk)) if pk else super().post_edit_redirect()


class OrganizationListWidget(ListWidget):
    """Rows whose action buttons appear on hover, with the quick card popup."""

    template = "crm/organization_list_widget.html"


class ContactView(ExportMixin, LandOnRecordMixin, CrmModelView):
    datamodel = SQLAInterface(Contact)
    base_filters = access.CONTACT_BASE_FILTERS
    list_title = _l("Contacts")
    show_title = _l("Contact")
    add_title = _l("New contact")
    edit_title = _l("Edit contact")
    add_row_message = _l("The contact is saved.")
    edit_row_message = _l("The contact is saved.")
    label_columns = CONTACT_LABELS
    list_columns = ["full_name", "position", "work_phone", "mobile_phone", "email", "is_primary", "organization"]
    add_columns = [
        "organization",
        "full_name",
        "position",
        "work_phone",
        "mobile_phone",
        "email",
        "is_primary",
        "notes",
    ]
    edit_columns = add_columns
    show_columns = [*add_columns, "created_by", "created_on"]
    # No filter by organisation here: FAB would render it as a <select> of the whole client base;
    # a client's contacts are on its page and found by the quick search.
    search_columns = ["full_name", "position", "work_phone", "mobile_phone", "email", "is_primary"]
    formatters_columns = {
        "organization": customer_link,
        "work_phone": phone_links,
        "mobile_phone": phone_links,
        "email": mail_link,
    }
    list_template = "crm/list_with_card.html"
    order_columns = ["full_name", "position", "email"]
    base_order = ("full_name", "asc")
    validators_columns = form_validators(CONTACT_RULES)
    # Only clients whose contacts he may change: not a colleague's client shared through a request.
    add_form_query_rel_fields = {"organization": access.ORGANIZATION_WRITE_FILTERS}
    edit_form_query_rel_fields = add_form_query_rel_fields
    search_form_query_rel_fields = {"organization": access.ORGANIZATION_BASE_FILTERS}

    def write_refusal(self, item: Contact) -> str | None:
        return None if access.may_change_organization(item.organization_id) else access.colleagues_client_message()

    @expose("/add", methods=["GET", "POST"])
    @has_access
    def add(self):
        """From a shared client's «New contact» button: the reason on the client's page, not a form
        that cannot be saved."""
        pk = request.args.get("_flt_0_organization", "")
        organization_id = int(pk) if pk.isascii() and pk.isdigit() and int(pk) < 2**63 else None
        if (
            organization_id is not None
            and access.can_see_organization(organization_id)
            and not access.may_change_organization(organization_id)
        ):
            flash(access.colleagues_client_message(), "danger")
            return redirect(url_for("OrganizationView.show", pk=organization_id))
        return super().add()

    def pre_add(self, item: Contact) -> None:
        access.check_contact_write(item)

    def pre_update(self, item: Contact) -> None:
        access.check_contact_write(item)

    def pre_delete(self, item: Contact) -> None:
        access.check_contact_write(item, deleting=True)


class OrganizationView(ExportMixin, LandOnRecordMixin, ResponsibleDefaultMixin, UrlParamFiltersMixin, CrmModelView):
    datamodel = SQLAInterface(Organization)
    base_filters = access.ORGANIZATION_BASE_FILTERS
    list_title = _l("Organisations")
    show_title = _l("Organisation")
    add_title = _l("New organisation")
    edit_title = _l("Edit organisation")
    add_row_message = _l("The organisation is saved.")
    edit_row_message = _l("The organisation is saved.")
    label_columns = ORGANIZATION_LABELS
    list_columns = ["name", "inn", "city", "phones", "email", "responsible"]
    formatters_columns = {"phones": phone_links, "email": mail_link}  # one tap dials or writes
    edit_columns = ["name", "inn", "industry", "city", "address", "phones", "email", "website", "notes", "responsible"]
    # A new organisation takes its first contacts on the same form; later ones have their own.
    add_columns = [*edit_columns, "new_contacts"]
    add_form_extra_fields = {"new_contacts": ContactRowsField(_l("Contacts"))}
    show_fieldsets = [
        (
            _l("Organisation"),
            {"fields": ["name", "inn", "industry", "city", "address", "phones", "email", "website", "notes"]},
        ),
        (_l("Responsibility"), {"fields": ["responsible", "created_by", "created_on", "changed_by", "changed_on"]}),
    ]
    search_columns = [
        "name",
        "inn",
        "industry",
        "city",
        "address",
        "phones",
        "email",
        "website",
        "notes",
        "responsible",
    ]
    order_columns = ["name", "inn", "city", "email"]
    # By the name without its legal form: «АО «Балтхолдинг»» among the Б, not before every ООО.
    base_order = ("sort_key", "asc")
    # The contacts and requests tabs are drawn by the page itself from two plain queries (see
    # _get_show_widget): FAB's related list widgets cost more CPU than a whole list page.
    related_views = []
    list_template = "crm/organization_list.html"
    show_template = "crm/organization_show.html"
    edit_template = "crm/edit_fields.html"
    list_widget = OrganizationListWidget
    validators_columns = form_validators(ORGANIZATION_RULES)
    page_size = 25
    url_param_filters = {
        "q": ("search_text", QuickSearchFilter),
        "request_status": ("id", HasRequestWithStatus),
    }

    add_form_query_rel_fields = {"responsible": access.ASSIGNABLE_USER_FILTERS}
    edit_form_query_rel_fields = {"responsible": access.ORGANIZATION_ASSIGNEE_FILTERS}
    search_form_query_rel_fields = {"responsible": access.ASSIGNABLE_USER_FILTERS}

    def write_refusal(self, item: Organization) -> str | None:
        return None if access.may_change_organization(item.id) else access.colleagues_client_message()

    def delete_refusal(self, item: Organization) -> str | None:
        return deletion.organization_deletion_refusal(db.session, item)

    def process_form(self, form, is_created: bool) -> None:
        """The contact rows become Contact records, not a column of the organisation."""
        if is_created and "new_contacts" in form:
            g.new_contact_rows = [entry.form.data for entry in form.new_contacts.entries]
            del form["new_contacts"]

    def pre_add(self, item: Organization) -> None:
        item.contacts.extend(build_contacts(getattr(g, "new_contact_rows", [])))
        if item.responsible is None:
            item.responsible = g.user
        access.check_responsible_write(item)

    def pre_update(self, item: Organization) -> None:
        access.check_organization_write(item)
        access.check_responsible_write(item)

    def pre_delete(self, item: Organization) -> None:
        """Refused while it has requests (for everyone); its contacts and reminders go with it."""
        access.check_organization_write(item)
        deletion.prepare_organization_deletion(db.session, item)

    def _get_show_widget(self, pk, item, widgets=None, actions=None, show_fieldsets=None) -> dict:
        """The page's template also gets the organisation FAB fetched through the access policy."""
        widgets = super()._get_show_widget(pk, item, widgets=widgets, actions=actions, show_fieldsets=show_fieldsets)
        widgets["organization"] = item
        widgets["contacts"] = list(item.contacts)
        requests = db.session.scalars(
            access.visible_requests()
            .where(Request.organization_id == item.id)
            .order_by(Request.request_date.desc(), Request.id.desc())
            .limit(ORGANIZATION_PAGE_REQUESTS + 1)
        ).all()
        widgets["requests"] = requests[:ORGANIZATION_PAGE_REQUESTS]
        widgets["more_requests"] = len(requests) > ORGANIZATION_PAGE_REQUESTS
        return widgets

    @expose("/card/<int:pk>")
    @has_access
    def card(self, pk: int) -> str:
        """The quick popup: the company's own contact data and every employee."""
        organization = access.get_organization_or_404(pk)
        return render_template("crm/organization_card.html", organization=organization)
