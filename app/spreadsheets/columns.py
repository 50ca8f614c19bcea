"""What each list's export holds, column by column, with the same labels as the screens."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from app.models.clients import Contact, Organization
from app.models.reminders import Reminder
from app.models.requests import Request
from app.spreadsheets.export import BOOLEAN, DATE, DATETIME, MONEY, ExportColumn, attribute


def _person(user: Any) -> str | None:
    if user is None:
        return None
    return " ".join(part for part in (user.last_name, user.first_name) if part) or user.username


def _responsible(record: Any) -> str | None:
    return _person(record.responsible)


def _reminder_subject(reminder: Reminder) -> str | None:
    if reminder.request is not None:
        return f"{reminder.request.number} — {reminder.request.organization.name}"
    return reminder.organization.name if reminder.organization is not None else None


ORGANIZATION_COLUMNS = [
    ExportColumn(_l("Name"), attribute("name"), width=40),
    ExportColumn(_l("INN"), attribute("inn"), width=14),
    ExportColumn(_l("Industry"), attribute("industry"), width=20),
    ExportColumn(_l("City"), attribute("city"), width=16),
    ExportColumn(_l("Address"), attribute("address"), width=36),
    ExportColumn(_l("Phones"), attribute("phones"), width=22),
    ExportColumn(_l("E-mail"), attribute("email"), width=26),
    ExportColumn(_l("Website"), attribute("website"), width=22),
    ExportColumn(_l("Responsible manager"), _responsible, width=22),
    ExportColumn(_l("Created on"), attribute("created_on"), DATETIME, width=17),
    ExportColumn(_l("Notes"), attribute("notes"), width=40),
]

CONTACT_COLUMNS = [
    ExportColumn(_l("Full name"), attribute("full_name"), width=30),
    ExportColumn(_l("Position"), attribute("position"), width=22),
    ExportColumn(_l("Work phone"), attribute("work_phone"), width=20),
    ExportColumn(_l("Mobile phone"), attribute("mobile_phone"), width=20),
    ExportColumn(_l("E-mail"), attribute("email"), width=26),
    ExportColumn(_l("Primary contact"), attribute("is_primary"), BOOLEAN, width=10),
    ExportColumn(_l("Organisation"), attribute("organization.name"), width=40),
    ExportColumn(_l("Created on"), attribute("created_on"), DATETIME, width=17),
]

REQUEST_COLUMNS = [
    ExportColumn(_l("Date"), attribute("request_date"), DATE, width=12),
    ExportColumn(_l("Number"), attribute("number"), width=14),
    ExportColumn(_l("Customer"), attribute("organization.name"), width=36),
    ExportColumn(_l("Contract subject"), attribute("equipment_text"), width=44),
    ExportColumn(_l("Status"), attribute("status_label"), width=20),
    ExportColumn(_l("Delivery"), attribute("delivery_label"), width=20),
    ExportColumn(_l("Contract price"), attribute("contract_price"), MONEY, width=16),
    ExportColumn(_l("Currency"), attribute("currency"), width=8),
    ExportColumn(_l("Responsible manager"), _responsible, width=22),
    ExportColumn(_l("Contract no."), attribute("contract_number"), width=16),
    ExportColumn(_l("Invoice no."), attribute("invoice_number"), width=16),
    ExportColumn(_l("Payment terms"), attribute("payment_terms"), width=30),
]

REMINDER_COLUMNS = [
    ExportColumn(_l("When"), attribute("due_at"), DATETIME, width=17),
    ExportColumn(_l("What to do"), attribute("text"), width=50),
    ExportColumn(_l("Client or request"), _reminder_subject, width=40),
    ExportColumn(_l("Manager"), lambda reminder: _person(reminder.owner), width=22),
    ExportColumn(_l("Done"), attribute("done_at"), DATETIME, width=17),
]

EXPORT_COLUMNS: dict[type, list[ExportColumn]] = {
    Organization: ORGANIZATION_COLUMNS,
    Contact: CONTACT_COLUMNS,
    Request: REQUEST_COLUMNS,
    Reminder: REMINDER_COLUMNS,
}
