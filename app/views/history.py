"""The readable history of an organisation or a request, from the audit trail."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, DateTime, Numeric, inspect, select
from sqlalchemy.orm import joinedload

from app import access
from app.domain.audit import TRACKED
from app.extensions import db
from app.formatting import cell, file_size, local_date, local_datetime, money, person
from app.models.audit import AuditEntry
from app.models.clients import Organization
from app.models.reminders import Reminder
from app.models.requests import DELIVERY_LABELS, STATUS_LABELS, DeliveryStatus, Request, RequestStatus
from app.views.clients import CONTACT_LABELS, ORGANIZATION_LABELS
from app.views.requests import REQUEST_LABELS

HISTORY_LIMIT = 200
ENTITY_LABELS = {
    "organization": _l("Organisation"),
    "contact": _l("Contact"),
    "request": _l("Request"),
    "item": _l("Equipment item"),
    "document": _l("Document"),
    "comment": _l("Comment"),
    "status": _l("Status"),
    "delivery": _l("Delivery"),
}
ACTION_LABELS = {"create": _l("added"), "update": _l("changed"), "delete": _l("deleted")}
# Whole headlines, so that each noun gets its own gender in Russian («Организация … добавлена»).
HEADLINES = {
    ("organization", "create"): _l("Organisation «%(label)s» added"),
    ("organization", "update"): _l("Organisation «%(label)s» changed"),
    ("organization", "delete"): _l("Organisation «%(label)s» deleted"),
    ("contact", "create"): _l("Contact «%(label)s» added"),
    ("contact", "update"): _l("Contact «%(label)s» changed"),
    ("contact", "delete"): _l("Contact «%(label)s» deleted"),
    ("request", "create"): _l("Request «%(label)s» added"),
    ("request", "update"): _l("Request «%(label)s» changed"),
    ("request", "delete"): _l("Request «%(label)s» deleted"),
    ("item", "create"): _l("Equipment item «%(label)s» added"),
    ("item", "update"): _l("Equipment item «%(label)s» changed"),
    ("item", "delete"): _l("Equipment item «%(label)s» deleted"),
    ("document", "create"): _l("Document «%(label)s» attached"),
    ("document", "delete"): _l("Document «%(label)s» deleted"),
    ("comment", "create"): _l("Comment added"),
    ("status", "create"): _l("Status: «%(label)s»"),
    ("delivery", "create"): _l("Delivery status: «%(label)s»"),
}
FIELD_LABELS = {
    **ORGANIZATION_LABELS,
    **CONTACT_LABELS,
    **REQUEST_LABELS,
    "equipment_type": _l("Equipment type"),
    "subname": _l("Sub-name"),
    "capacity": _l("Capacity"),
    "quantity": _l("Quantity"),
    "position": _l("Position"),
    "organization_id": _l("Organisation"),
    "responsible_id": _l("Responsible manager"),
    "request_id": _l("Request"),
    "original_name": _l("File"),
    "category_id": _l("Category"),
    "text": _l("Text"),
    "comment": _l("Comment"),
    "old_value": _l("Was"),
    "new_value": _l("Became"),
    "size": _l("Size"),
}
_CODED = {**STATUS_LABELS, **DELIVERY_LABELS}
_CODED_VALUES = frozenset(s.value for s in RequestStatus) | frozenset(s.value for s in DeliveryStatus)
_HIDDEN = {"request_id", "organization_id", "author_id", "uploaded_by_fk", "changed_by_fk", "content_type", "purpose"}
# Per kind of record: what its headline already says, or what means nothing to a manager.
_HIDDEN_FOR = {"item": {"position"}, "status": {"new_value"}, "delivery": {"new_value"}, "document": {"original_name"}}


@dataclass
class HistoryLine:
    when: datetime
    who: str
    what: str
    details: list[str]


@cache
def _column_kinds(entity: str) -> dict[str, type]:
    """The recorded fields of a kind of record that need a formatter, by their column type: the
    trail keeps amounts and dates as text («1250000.50», «2026-12-01»)."""
    model = {name: model for model, name in TRACKED.items()}.get(entity)
    if model is None:
        return {}
    kinds = {}
    for attr in inspect(model).mapper.column_attrs:
        column_type = attr.columns[0].type
        for kind in (Numeric, DateTime, Date):
            if isinstance(column_type, kind):
                kinds[attr.key] = kind
                break
    return kinds


def _value(value, entity: str = "", field: str = "", currency: str | None = None) -> str:
    """A recorded value as the pages show it: «1 250 000,50 ₽», «01.12.2026», «Да», «—»."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return str(cell(value))
    if isinstance(value, str) and value in _CODED_VALUES:
        return str(_CODED[value])
    kind = _column_kinds(entity).get(field)
    try:
        if kind is Numeric:
            return money(Decimal(str(value)), currency)
        if kind is DateTime and isinstance(value, str):
            return local_datetime(datetime.fromisoformat(value))
        if kind is Date and isinstance(value, str):
            return local_date(date.fromisoformat(value))
        if entity == "document" and field == "size" and isinstance(value, int):
            return file_size(value)
    except (InvalidOperation, ValueError):
        pass  # a value recorded before its column changed type: shown as it was stored
    text = str(value)
    return text if len(text) <= 200 else text[:199] + "…"


def _title(entry: AuditEntry, changes: dict) -> str:
    """The record's name for the headline, taken from the recorded values where they say more (and
    where entries written before titles existed hold a Python object's name)."""
    recorded = {field: values[1] for field, values in changes.items() if isinstance(values, list) and len(values) == 2}
    if entry.entity in ("status", "delivery"):
        return _value(recorded.get("new_value") or entry.label)
    if entry.entity == "document" and recorded.get("original_name"):
        return str(recorded["original_name"])
    label = entry.label or ""
    return label if len(label) <= 80 else label[:79] + "…"


def _line(entry: AuditEntry, changes: dict, currency: str | None = None) -> HistoryLine:
    via_import = (changes.pop("_import", None) or [None, None])[1]
    hidden = _HIDDEN | _HIDDEN_FOR.get(entry.entity, set())
    old_currency, new_currency = changes.get("currency") or [currency, currency]
    details = []
    for field, (old, new) in changes.items():
        if field in hidden:
            continue
        label = FIELD_LABELS.get(field, field)
        shown_new = _value(new, entry.entity, field, new_currency or currency)
        if entry.action == "create":
            change = shown_new
        else:
            change = f"{_value(old, entry.entity, field, old_currency or currency)} → {shown_new}"
        details.append(f"{label}: {change}")
    headline = HEADLINES.get((entry.entity, entry.action))
    title = _title(entry, changes)
    if headline is not None:
        what = str(headline) % {"label": title}
    else:
        entity = ENTITY_LABELS.get(entry.entity, entry.entity)
        what = f"{entity} «{title}» {ACTION_LABELS.get(entry.action, entry.action)}"
    if via_import is not None:
        by_import = _("via import #%(number)s", number=via_import)  # outside the f-string, for pybabel
        what = f"{what} ({by_import})"
    return HistoryLine(entry.occurred_on, person(entry.user), what, details)


def _history(condition, currency: str | None = None) -> list[HistoryLine]:
    """The lines, newest first; `currency` is the request's now, and each older line's prices are
    shown in the currency the request had then (walking back over its currency changes)."""
    query = (
        select(AuditEntry)
        .options(joinedload(AuditEntry.user))
        .where(condition)
        .order_by(AuditEntry.id.desc())
        .limit(HISTORY_LIMIT)
    )
    lines = []
    for entry in db.session.scalars(query):
        changes = json.loads(entry.changes or "{}")
        recorded = changes.get("currency") if entry.entity == "request" else None
        lines.append(_line(entry, changes, currency))
        if isinstance(recorded, list) and len(recorded) == 2 and recorded[0]:
            currency = recorded[0]
    return lines


def organization_history(organization: Organization) -> list[HistoryLine]:
    """The organisation's own data and its contacts, for a page that got the organisation from the
    access policy; request histories stay on their pages, where the policy decides who sees them."""
    return _history(
        (AuditEntry.organization_id == organization.id) & AuditEntry.entity.in_(["organization", "contact"])
    )


def request_history(request: Request) -> list[HistoryLine]:
    """The history of a request the page got from the access policy (get_request_or_404)."""
    return _history(AuditEntry.request_id == request.id, request.currency)


def my_reminders_about(organization_id: int | None = None, request_id: int | None = None) -> list[Reminder]:
    """The current user's open reminders about a client or a request, for its page."""
    user = access.current_user()
    if user is None:
        return []
    query = select(Reminder).where(Reminder.owner_id == user.id, Reminder.done_at.is_(None))
    query = (
        query.where(Reminder.request_id == request_id)
        if request_id
        else query.where(Reminder.organization_id == organization_id)
    )
    return list(db.session.scalars(query.order_by(Reminder.due_at)))


def register_template_globals(app) -> None:
    app.add_template_global(organization_history)
    app.add_template_global(request_history)
    app.add_template_global(my_reminders_about)
