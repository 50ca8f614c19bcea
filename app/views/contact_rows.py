"""The first contacts of a new organisation, entered on its own form: rows of name, position,
phones and e-mail, checked by the same rules as the contact form."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, Form, StringField
from wtforms.validators import ValidationError

from app.models.clients import Contact
from app.validation import CONTACT_RULES, form_validator, optional
from app.views.form_rows import RowsField, RowsWidget

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


class ContactRowsField(RowsField):
    row_form = ContactRowForm
    widget = RowsWidget("crm/contact_rows.html")


def build_contacts(rows: list[dict]) -> list[Contact]:
    """Contacts from the filled rows; empty rows are skipped."""
    contacts = []
    for row in rows:
        values = {name: (str(row.get(name) or "").strip() or None) for name in CONTACT_ROW_FIELDS}
        if values["full_name"]:
            contacts.append(Contact(**values, is_primary=bool(row.get("is_primary"))))
    return contacts
