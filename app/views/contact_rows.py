"""The first contacts of a new organisation, entered on its own form: rows of name, position,
phones and e-mail, checked by the same rules as the contact form."""

from __future__ import annotations

from flask import render_template
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from wtforms import BooleanField, FieldList, Form, FormField, StringField
from wtforms.validators import ValidationError

from app.models.clients import Contact
from app.validation import CONTACT_RULES, form_validator, optional

CONTACT_ROW_FIELDS = ("full_name", "position", "work_phone", "mobile_phone", "email")


class ContactRowForm(Form):
    # A blank row is skipped; a row with anything in it needs the name (validate_full_name).
    full_name = StringField(_l("Full name"), [form_validator(*optional(CONTACT_RULES["full_name"]))])
    position = StringField(_l("Position"), [form_validator(*CONTACT_RULES["position"])])
    work_phone = StringField(_l("Work phone"), [form_validator(*CONTACT_RULES["work_phone"])])
    mobile_phone = StringField(_l("Mobile phone"), [form_validator(*CONTACT_RULES["mobile_phone"])])
    email = StringField(_l("E-mail"), [form_validator(*CONTACT_RULES["email"])])
    is_primary = BooleanField(_l("Primary contact"))

    def validate_full_name(self, field) -> None:
        others = (self.position.data, self.work_phone.data, self.mobile_phone.data, self.email.data)
        if not (field.data or "").strip() and any((value or "").strip() for value in others):
            raise ValidationError(_l("Give the contact's full name."))


class ContactRowsWidget:
    """A table of contact rows; a template row lets the page add more."""

    def __call__(self, field: FieldList, **kwargs) -> Markup:
        options = {
            "name": f"{field.name}-__index__",
            "id": f"{field.id}-__index__",
            "_meta": field.meta,
            "translations": field._translations,
        }
        template_row = field.meta.bind_field(field._form, field.unbound_field, options)
        template_row.process(None)
        return Markup(render_template("crm/contact_rows.html", field=field, template_row=template_row))


class ContactRowsField(FieldList):
    widget = ContactRowsWidget()

    def __init__(self, label=None, **kwargs) -> None:
        super().__init__(FormField(ContactRowForm), label, min_entries=1, **kwargs)

    def validate(self, form, extra_validators=()) -> bool:
        valid = super().validate(form, extra_validators)
        # Row errors are shown beside their inputs; FAB's field template expects only strings here.
        self.errors = [error for error in self.errors if isinstance(error, str)]
        return valid


def build_contacts(rows: list[dict]) -> list[Contact]:
    """Contacts from the filled rows; empty rows are skipped."""
    contacts = []
    for row in rows:
        values = {name: (str(row.get(name) or "").strip() or None) for name in CONTACT_ROW_FIELDS}
        if values["full_name"]:
            contacts.append(Contact(**values, is_primary=bool(row.get("is_primary"))))
    return contacts
