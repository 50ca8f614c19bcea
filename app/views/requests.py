"""Web screens of requests: the list, the create/edit form with equipment, and the request card
with its status and delivery histories, documentation timeline and finance block."""

from __future__ import annotations

from flask import abort, flash, g, redirect, request, send_file, url_for
from flask_appbuilder import expose, has_access
from flask_appbuilder.fieldwidgets import DatePickerWidget
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.widgets import ListWidget
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape
from sqlalchemy import select
from wtforms import DateField
from wtforms.validators import DataRequired

from app import access
from app.domain import reminders as reminder_domain
from app.domain import request_counts
from app.domain import requests as request_domain
from app.domain.activity import AttentionFilter, CreatedSince, ResponsibleIs, stalled_after_days
from app.domain.reports import ClosedFrom, ClosedTo, ReceivedFrom, ReceivedTo, WithoutResponsible
from app.extensions import db
from app.files import SPREADSHEETS, UploadRefused, discard, store_upload, stored_path
from app.formatting import local_date, local_today, money
from app.models.clients import Organization
from app.models.requests import (
    DELIVERY_LABELS,
    STATUS_LABELS,
    DeliveryStatus,
    DocumentCategory,
    DocumentPurpose,
    Request,
    RequestStatus,
)
from app.search import RequestQuickSearchFilter, ValueEquals
from app.validation import NOTES, REQUEST_RULES, CurrencyField, MoneyField, comment_problem, form_validators
from app.views.activity_badges import activity_badge, next_step_badge
from app.views.base import CrmModelView, ResponsibleDefaultMixin, UrlParamFiltersMixin, customer_link
from app.views.equipment import EquipmentField
from app.views.export import ExportMixin

STATUS_COLOURS = {
    RequestStatus.PREPARING_OFFER: "info",
    RequestStatus.IN_PROGRESS: "primary",
    RequestStatus.STALLED: "warning",
    RequestStatus.COMPLETED: "success",
    RequestStatus.DEAD: "default",
}
DELIVERY_COLOURS = {
    DeliveryStatus.NOT_STARTED: "default",
    DeliveryStatus.PREPARING_SHIPMENT: "info",
    DeliveryStatus.SHIPPED: "primary",
    DeliveryStatus.IN_TRANSIT: "warning",
    DeliveryStatus.DELIVERED: "success",
}
CURRENCIES = [("RUB", "RUB ₽"), ("USD", "USD $"), ("EUR", "EUR €"), ("CNY", "CNY ¥")]
REQUEST_LABELS = {
    "request_date": _l("Date"),
    "number": _l("Number"),
    "equipment_text": _l("Contract subject"),
    "equipment": _l("Contract subject"),
    "organization": _l("Customer"),
    "status": _l("Status"),
    "delivery_status": _l("Delivery"),
    "contract_price": _l("Contract price"),
    "price": _l("Contract price"),
    "currency": _l("Currency"),
    "responsible": _l("Responsible manager"),
    "payment_terms": _l("Payment terms"),
    "contract_number": _l("Contract no."),
    "invoice_number": _l("Invoice no."),
    "finance_comment": _l("Finance comment"),
    "next_step_on": _l("Next step"),
    "next_step_text": _l("What to do next"),
    "activity": _l("Without activity"),
}


# Badges and summaries are made for every row of the list: escape() and f-strings, not the much
# slower Markup.format. str() first: a lazy label's __html__ would pass it through unescaped.
def _label(text: object, colour: str, css_class: str) -> Markup:
    return Markup(f'<span class="label label-{colour} {css_class}">{escape(str(text))}</span>')


def status_badge(value: str) -> Markup:
    status = RequestStatus(value)
    return _label(STATUS_LABELS[status], STATUS_COLOURS[status], "crm-status")


def delivery_badge(value: str) -> Markup:
    status = DeliveryStatus(value)
    return _label(DELIVERY_LABELS[status], DELIVERY_COLOURS[status], "crm-delivery")


def equipment_summary(text: str) -> Markup:
    lines = [line for line in (text or "").splitlines() if line]
    if not lines:
        return Markup("")
    more = f' <span class="text-muted">+{len(lines) - 1}</span>' if len(lines) > 1 else ""
    return Markup(f'<span title="{escape(chr(10).join(lines))}">{escape(lines[0])}</span>{more}')


def priced(amount_and_currency: tuple) -> str:
    """A list's price in the request's own currency (Request.price), not always in roubles."""
    return money(*amount_and_currency)


class RequestListWidget(ListWidget):
    template = "crm/request_list_widget.html"


class RequestView(ExportMixin, ResponsibleDefaultMixin, UrlParamFiltersMixin, CrmModelView):
    datamodel = SQLAInterface(Request)
    base_filters = access.REQUEST_BASE_FILTERS
    list_title = _l("Requests")
    show_title = _l("Request")
    add_title = _l("New request")
    edit_title = _l("Edit request")
    label_columns = REQUEST_LABELS
    list_columns = [
        "request_date",
        "number",
        "equipment_text",
        "organization",
        "status",
        "delivery_status",
        "price",
        "responsible",
        "next_step_on",
        "activity",
    ]
    formatters_columns = {
        "status": status_badge,
        "delivery_status": delivery_badge,
        "organization": customer_link,
        "equipment_text": equipment_summary,
        "price": priced,
        "next_step_on": next_step_badge,
        "activity": activity_badge,
        "request_date": local_date,
    }
    order_columns = ["request_date", "number", "status", "delivery_status", "price", "contract_price", "next_step_on"]
    base_order = ("id", "desc")
    # No filter by organisation: FAB would render it as a <select> of the whole client base; a
    # client's requests are its page's tab, and the quick search finds them by customer name.
    search_columns = [
        "number",
        "request_date",
        "equipment_text",
        "status",
        "delivery_status",
        "contract_price",
        "contract_number",
        "invoice_number",
        "responsible",
        "next_step_on",
    ]
    search_form_query_rel_fields = {
        "organization": access.ORGANIZATION_BASE_FILTERS,
        "responsible": access.ASSIGNABLE_USER_FILTERS,
    }
    add_form_query_rel_fields = {
        "organization": access.ORGANIZATION_BASE_FILTERS,
        "responsible": access.ASSIGNABLE_USER_FILTERS,
    }
    edit_form_query_rel_fields = {
        "organization": access.ORGANIZATION_BASE_FILTERS,
        "responsible": access.REQUEST_ASSIGNEE_FILTERS,
    }
    url_param_filters = {
        "q": ("number", RequestQuickSearchFilter),
        "status": ("status", ValueEquals),
        "delivery": ("delivery_status", ValueEquals),
        # The start page's and the board's links: stalled / needs action, whose, new since.
        "attention": ("id", AttentionFilter),
        "responsible": ("id", ResponsibleIs),
        "created_since": ("id", CreatedSince),
        # A report's figure clicked through: received, won or lost (with status=) in a period.
        "received_from": ("id", ReceivedFrom),
        "received_to": ("id", ReceivedTo),
        "closed_from": ("id", ClosedFrom),
        "closed_to": ("id", ClosedTo),
        "unassigned": ("id", WithoutResponsible),
    }
    add_form_extra_fields = {
        "equipment": EquipmentField(_l("Contract subject")),
        # Today unless the manager says otherwise.
        "request_date": DateField(_l("Date"), [DataRequired()], default=local_today, widget=DatePickerWidget()),
    }
    edit_form_extra_fields = {
        "equipment": EquipmentField(_l("Contract subject")),
        "contract_price": MoneyField(_l("Contract price")),
        "currency": CurrencyField(_l("Currency"), default="RUB"),
    }
    add_fieldsets = [
        (_l("Request"), {"fields": ["organization", "request_date", "responsible"]}),
        (_l("Contract subject"), {"fields": ["equipment"]}),
        (_l("Next step"), {"fields": ["next_step_on", "next_step_text"]}),
    ]
    edit_fieldsets = [
        *add_fieldsets,
        (
            _l("Finance"),
            {
                "fields": [
                    "payment_terms",
                    "contract_number",
                    "invoice_number",
                    "contract_price",
                    "currency",
                    "finance_comment",
                ]
            },
        ),
    ]
    validators_columns = form_validators(REQUEST_RULES)
    money_columns = ("contract_price",)
    list_template = "crm/request_list.html"
    list_widget = RequestListWidget
    show_template = "crm/request_show.html"
    add_template = "crm/request_add.html"
    page_size = 25
    add_row_message = _l("The request is saved.")
    edit_row_message = _l("The request is saved.")

    def process_form(self, form, is_created: bool) -> None:
        """Take the equipment rows out of the form: they become RequestItem rows, not a column."""
        g.equipment_rows = [entry.form.data for entry in form.equipment.entries]
        del form["equipment"]

    def pre_add(self, item: Request) -> None:
        item.items = request_domain.build_items(g.equipment_rows)
        request_domain.prepare_new_request(item, db.session, g.user)
        access.check_responsible_write(item)

    def pre_update(self, item: Request) -> None:
        access.check_responsible_write(item)
        request_domain.replace_items(item, g.equipment_rows)

    def post_add(self, item: Request) -> None:
        g.saved_request_id = item.id

    def post_add_redirect(self):
        """After saving, the manager lands on the new request's card."""
        saved = getattr(g, "saved_request_id", None)
        return redirect(url_for(".show", pk=saved)) if saved else super().post_add_redirect()

    def post_edit_redirect(self):
        pk = request.view_args.get("pk") if request.view_args else None
        return redirect(url_for(".show", pk=pk)) if pk else super().post_edit_redirect()

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        req = access.get_request_or_404(int(pk)) if str(pk).isdigit() else abort(404)
        categories = db.session.scalars(select(DocumentCategory).order_by(DocumentCategory.position)).all()
        return self.render_template(
            self.show_template,
            req=req,
            title=_("Request %(number)s", number=req.number),
            timeline=request_domain.timeline(req),
            statuses=STATUS_LABELS,
            deliveries=DELIVERY_LABELS,
            categories=categories,
            currencies=dict(CURRENCIES),
            price_file=req.latest_document(DocumentPurpose.PRICE_CALCULATION),
            invoice_file=req.latest_document(DocumentPurpose.INVOICE),
            status_badge=status_badge,
            delivery_badge=delivery_badge,
            next_step=reminder_domain.next_step_reminder(db.session, g.user, req),
        )

    def _comment_from_form(self) -> str | None:
        comment = (request.form.get("comment") or "").strip()
        message = comment_problem(comment)
        if message:
            flash(message, "danger")
            return None
        return comment

    @expose("/status/<int:pk>", methods=["POST"])
    @has_access
    def change_status(self, pk: int):
        req = access.get_request_or_404(pk)
        new_status = request.form.get("status", "")
        if new_status not in RequestStatus.__members__.values():
            flash(_("Choose a status from the list."), "danger")
        elif (comment := self._comment_from_form()) is not None:
            if new_status == req.status:
                flash(_("The request already has this status."), "warning")
            else:
                request_domain.change_status(req, RequestStatus(new_status), comment, g.user)
                db.session.commit()
                flash(_("Status changed."), "success")
        back = request.form.get("next", "")
        if back.startswith("/") and not back.startswith("//") and "\\" not in back:  # the board, never off-site
            return redirect(back)
        return redirect(url_for(".show", pk=pk, _anchor="status"))

    @expose("/delivery/<int:pk>", methods=["POST"])
    @has_access
    def change_delivery(self, pk: int):
        req = access.get_request_or_404(pk)
        new_status = request.form.get("delivery_status", "")
        if new_status not in DeliveryStatus.__members__.values():
            flash(_("Choose a delivery status from the list."), "danger")
        elif (comment := self._comment_from_form()) is not None:
            if new_status == req.delivery_status:
                flash(_("The delivery already has this status."), "warning")
            else:
                request_domain.change_delivery(req, DeliveryStatus(new_status), comment, g.user)
                db.session.commit()
                flash(_("Delivery status changed."), "success")
        return redirect(url_for(".show", pk=pk, _anchor="delivery"))

    @expose("/comment/<int:pk>", methods=["POST"])
    @has_access
    def add_comment(self, pk: int):
        req = access.get_request_or_404(pk)
        if (text := self._comment_from_form()) is not None:
            request_domain.add_comment(req, text, g.user)
            db.session.commit()
            flash(_("Comment added."), "success")
        return redirect(url_for(".show", pk=pk, _anchor="documentation"))

    @expose("/upload/<int:pk>", methods=["POST"])
    @has_access
    def upload(self, pk: int):
        req = access.get_request_or_404(pk)
        purpose = request.form.get("purpose", DocumentPurpose.DOCUMENT)
        if purpose not in DocumentPurpose.__members__.values():
            abort(400)
        comment = (request.form.get("comment") or "").strip()
        category = None
        if purpose == DocumentPurpose.DOCUMENT:
            category = db.session.get(DocumentCategory, request.form.get("category_id", type=int) or 0)
        allowed = SPREADSHEETS if purpose == DocumentPurpose.PRICE_CALCULATION else None
        problem = NOTES(comment) if comment else None
        try:
            if problem:
                raise UploadRefused(problem)
            stored = store_upload(request.files.get("file"), allowed=allowed)
        except UploadRefused as refusal:
            flash(str(refusal), "danger")
        else:
            try:
                request_domain.attach_document(req, stored, g.user, category, comment, DocumentPurpose(purpose))
                db.session.commit()
            except Exception:
                db.session.rollback()
                discard(stored.stored_name)
                raise
            flash(_("File «%(name)s» is attached.", name=stored.original_name), "success")
        anchor = "finance" if purpose != DocumentPurpose.DOCUMENT else "documentation"
        return redirect(url_for(".show", pk=pk, _anchor=anchor))

    @expose("/document/<int:document_id>", methods=["GET"])
    @has_access
    def download(self, document_id: int):
        """Files are served only here, after the same check as the request itself."""
        document = access.get_document_or_404(document_id)
        try:
            path = stored_path(document.stored_name)
        except FileNotFoundError:
            abort(404)
        if not path.exists():
            abort(404)
        return send_file(path, mimetype=document.content_type, as_attachment=True, download_name=document.original_name)


class OrganizationRequestsView(RequestView):
    """The "Requests of the organisation" tab of an organisation's page."""

    list_title = _l("Requests of the organisation")
    list_columns = [
        "request_date",
        "number",
        "equipment_text",
        "status",
        "delivery_status",
        "contract_price",
        "responsible",
    ]


def request_form_customer() -> Organization | None:
    """The customer a new request form was opened for (from an organisation), if the user sees it."""
    raw = request.args.get("_flt_0_organization", "")
    if not raw.isdigit() or not access.can_see_organization(int(raw)):
        return None
    return db.session.get(Organization, int(raw))


def register_template_globals(app) -> None:
    app.add_template_global(request_form_customer)
    app.add_template_global(status_badge)
    app.add_template_global(delivery_badge)
    app.add_template_global(equipment_summary)
    app.add_template_global(request_counts.status_counts, "request_status_counts")
    app.add_template_global({code.value: label for code, label in STATUS_LABELS.items()}, "request_statuses")
    app.add_template_global(lambda code: STATUS_LABELS.get(code, code), "request_status_label")
    app.add_template_global(activity_badge, "activity_badge")
    app.add_template_global(next_step_badge, "next_step_badge")
    app.add_template_global(stalled_after_days, "stalled_after_days")
    app.add_template_global(lambda: access.may_see_reports(access.current_user()), "may_see_reports")
