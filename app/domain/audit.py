"""Writing the audit trail: a listener records every tracked change inside the same flush,
so there is no change without its record and no record without its change."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, event, insert, inspect
from sqlalchemy.orm import Session
from sqlalchemy.orm.base import NO_VALUE

from app.formatting import person
from app.models.audit import AuditEntry
from app.models.clients import Contact, Organization
from app.models.reminders import Reminder
from app.models.requests import (
    DeliveryChange,
    Request,
    RequestComment,
    RequestDocument,
    RequestItem,
    StatusChange,
)
from app.models.stamps import acting_user_id, utcnow
from app.models.users import CrmUser

# Columns that are derived, technical or secret: never in the trail.
_SKIPPED = {
    "search_text",
    "name_key",
    "sort_key",
    "equipment_text",
    "changed_on",
    "changed_by_fk",
    "created_on",
    "created_by_fk",
    "password",
    "last_login",
    "login_count",
    "fail_login_count",
    "stored_name",
    "claimed_at",
    "attempts",
    "next_attempt_at",
    "delivery",
    "sent_at",
    "last_error",
    "last_activity_at",
    "radar_reminded_for",
}

TRACKED: dict[type, str] = {
    Organization: "organization",
    Contact: "contact",
    Request: "request",
    RequestItem: "item",
    RequestDocument: "document",
    RequestComment: "comment",
    StatusChange: "status",
    DeliveryChange: "delivery",
    Reminder: "reminder",
    CrmUser: "user",
}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _model_columns(model: type) -> list[str]:
    return [attr.key for attr in inspect(model).column_attrs if attr.key not in _SKIPPED and attr.key != "id"]


def _columns(obj: Any) -> list[str]:
    return _model_columns(type(obj))


def _person(session: Session, user: Any) -> str | None:
    """A user (object or id) by name: the history keeps who was responsible, not a number."""
    if user is None:
        return None
    if not isinstance(user, CrmUser):
        with session.no_autoflush:
            found = session.get(CrmUser, user)
        if found is None:
            return str(user)
        user = found
    return person(user)


def _responsible_change(session: Session, obj: Any) -> list | None:
    """[old name, new name] when the responsible manager changed, by relationship or by id.

    Forms and the REST API set the relationship; its foreign key follows only during the flush,
    after this listener ran, so the column's own history would miss the change."""
    state = inspect(obj)
    if "responsible" not in state.mapper.relationships:
        return None
    column = state.attrs.responsible_id.history
    relation = state.attrs.responsible.history
    old_id = column.deleted[0] if column.deleted else state.attrs.responsible_id.loaded_value
    if old_id is NO_VALUE:
        old_id = None
    if relation.has_changes():
        new = relation.added[0] if relation.added else None
        new_id = new.id if new is not None else None
        if new is not None and new_id is None:
            return None  # a user being created in the same flush: not a manager yet
    elif column.has_changes():
        new = new_id = column.added[0] if column.added else None
    else:
        return None
    if old_id == new_id:
        return None
    return [_person(session, old_id), _person(session, new)]


def _snapshot(session: Session, obj: Any) -> dict[str, list]:
    changes = {key: [None, _plain(getattr(obj, key))] for key in _columns(obj) if getattr(obj, key) is not None}
    if "responsible" in inspect(obj).mapper.relationships:
        responsible = obj.responsible if obj.responsible is not None else obj.responsible_id
        changes.pop("responsible_id", None)
        if responsible is not None:
            changes["responsible_id"] = [None, _person(session, responsible)]
    return changes


def _diff(session: Session, obj: Any) -> dict[str, list]:
    state = inspect(obj)
    changes = {}
    for key in _columns(obj):
        if key == "responsible_id" and "responsible" in state.mapper.relationships:
            continue
        history = state.attrs[key].history
        if history.has_changes():
            old = history.deleted[0] if history.deleted else None
            new = history.added[0] if history.added else None
            if _plain(old) != _plain(new):
                changes[key] = [_plain(old), _plain(new)]
    responsible = _responsible_change(session, obj)
    if responsible is not None:
        changes["responsible_id"] = responsible
    return changes


def _title(obj: Any) -> str:
    """A human headline for the record: never the Python object's name."""
    if isinstance(obj, StatusChange | DeliveryChange):
        return obj.new_value or ""
    if isinstance(obj, RequestComment | Reminder):
        return " ".join((obj.text or "").split())
    if isinstance(obj, RequestDocument):
        return obj.original_name or ""
    if isinstance(obj, CrmUser):
        return obj.username or ""
    return str(obj)


def _placement(obj: Any) -> tuple[int | None, int | None, Any, Any]:
    """(organization_id, request_id) and the objects, for ids not assigned before the flush."""
    if isinstance(obj, Organization):
        return None, None, obj, None
    if isinstance(obj, Contact):
        return obj.organization_id, None, obj.organization, None
    if isinstance(obj, Request):
        return None, None, None, obj
    if isinstance(obj, Reminder):
        return None, None, None, None
    request = getattr(obj, "request", None)
    return None, getattr(obj, "request_id", None), None, request


class _Pending:
    """Entries whose ids are known only after the insert; completed in after_flush."""

    def __init__(self, entry: AuditEntry, obj: Any, organization: Any, request: Any) -> None:
        self.entry, self.obj, self.organization, self.request = entry, obj, organization, request


# session.info key: the import whose rows the session writes (or undoes), for the history's
# «через импорт №N»; set by app/spreadsheets/importing.py around its work.
VIA_IMPORT = "audit_via_import"


@event.listens_for(Session, "before_flush")
def _record(session: Session, _flush_context, _instances) -> None:
    user_id = acting_user_id()
    via_import = session.info.get(VIA_IMPORT)
    pending: list[_Pending] = session.info.setdefault("audit_pending", [])
    for action, objects in (("create", session.new), ("update", session.dirty), ("delete", session.deleted)):
        for obj in list(objects):
            entity = TRACKED.get(type(obj))
            if entity is None:
                continue
            if action == "update":
                changes = _diff(session, obj)
                if not changes:
                    continue
            elif action == "create":
                changes = _snapshot(session, obj)
            else:
                changes = {key: [_plain(getattr(obj, key)), None] for key in _columns(obj)}
            if via_import is not None:
                changes["_import"] = [None, via_import]
            organization_id, request_id, organization, request = _placement(obj)
            entry = AuditEntry(
                occurred_on=utcnow(),
                user_id=user_id,
                action=action,
                entity=entity,
                entity_id=getattr(obj, "id", None),
                label=_title(obj)[:255],
                organization_id=organization_id,
                request_id=request_id,
                changes=json.dumps(changes, ensure_ascii=False, default=str),
            )
            session.add(entry)
            pending.append(_Pending(entry, obj, organization, request))


@event.listens_for(Session, "after_flush")
def _complete_ids(session: Session, _flush_context) -> None:
    """Fill the ids that the flush just assigned (new records); the entries are updated in the
    same transaction, all in one executemany: an import of thousands of records would otherwise
    pay one round trip per record."""
    completed: list[dict[str, int | None]] = []
    for item in session.info.pop("audit_pending", []):
        entry, obj = item.entry, item.obj
        entity_id = entry.entity_id or getattr(obj, "id", None)
        organization_id = entry.organization_id
        request_id = entry.request_id
        if isinstance(obj, Organization):
            organization_id = obj.id
        elif item.organization is not None:
            organization_id = organization_id or item.organization.id
        if isinstance(obj, Request):
            request_id = obj.id
        elif item.request is not None:
            request_id = request_id or item.request.id
        if (entity_id, organization_id, request_id) != (entry.entity_id, entry.organization_id, entry.request_id):
            completed.append(
                {"b_entry": entry.id, "b_entity": entity_id, "b_organization": organization_id, "b_request": request_id}
            )
    if completed:
        table = AuditEntry.__table__
        session.execute(
            table.update()
            .where(table.c.id == bindparam("b_entry"))
            .values(
                entity_id=bindparam("b_entity"),
                organization_id=bindparam("b_organization"),
                request_id=bindparam("b_request"),
            ),
            completed,
        )


# The record kinds an import writes or deletes in bulk, with the column their history is titled by.
_BULK_TITLES: dict[type, str] = {Organization: "name", Contact: "full_name"}


def record_bulk(session: Session, action: str, model: type, records: list[dict[str, Any]]) -> None:
    """The entries the flush listener writes, for records written without the unit of work (an
    import's bulk INSERT, its undo's bulk DELETE); each record is its column values with its id."""
    user_id, via_import = acting_user_id(), session.info.get(VIA_IMPORT)
    columns, title = _model_columns(model), _BULK_TITLES[model]
    now = utcnow()
    entries = []
    for record in records:
        if action == "create":
            changes = {key: [None, _plain(record[key])] for key in columns if record.get(key) is not None}
            if "responsible_id" in changes:
                changes["responsible_id"] = [None, _person(session, record["responsible_id"])]
        else:
            changes = {key: [_plain(record.get(key)), None] for key in columns}
        if via_import is not None:
            changes["_import"] = [None, via_import]
        entries.append(
            {
                "occurred_on": now,
                "user_id": user_id,
                "action": action,
                "entity": TRACKED[model],
                "entity_id": record["id"],
                "label": (record[title] or "")[:255],
                "organization_id": record["id"] if model is Organization else record["organization_id"],
                "request_id": None,
                "changes": json.dumps(changes, ensure_ascii=False, default=str),
            }
        )
    if entries:
        session.execute(insert(AuditEntry), entries)
