"""What happens to a request: creation with its number, items, status and delivery changes,
comments and documents. Views and the API call these; each change is stamped with its author."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from flask_appbuilder.security.sqla.models import User
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.domain import events
from app.domain.catalogue import remember_items
from app.domain.numbering import next_request_number
from app.files import StoredFile, discard
from app.formatting import local_today
from app.models.requests import (
    DeliveryChange,
    DeliveryStatus,
    DocumentCategory,
    DocumentPurpose,
    Request,
    RequestComment,
    RequestDocument,
    RequestItem,
    RequestStatus,
    StatusChange,
)
from app.validation import parse_quantity

ITEM_FIELDS = ("equipment_type", "name", "subname", "capacity", "quantity")


def build_items(rows: Iterable[Mapping[str, object]]) -> list[RequestItem]:
    """Items from form or API rows; blank rows are skipped, text is trimmed."""
    items = []
    for row in rows:
        values = {field: (str(row.get(field) or "").strip() or None) for field in ITEM_FIELDS[:-1]}
        if not any(values.values()):
            continue
        quantity = parse_quantity(row.get("quantity") or 1)  # «1 000» from the API is a thousand
        items.append(RequestItem(**values, quantity=quantity, position=len(items)))
    return items


def replace_items(request: Request, rows: Iterable[Mapping[str, object]]) -> None:
    """Give the request these items, keeping the rows that stay as they are: the history then
    shows only real changes, not every item deleted and added again on each save."""
    wanted = build_items(rows)
    kept = list(request.items)
    for index, new in enumerate(wanted):
        if index < len(kept):
            old = kept[index]
            for field in (*ITEM_FIELDS[:-1], "quantity", "position"):
                if getattr(old, field) != getattr(new, field):
                    setattr(old, field, getattr(new, field))
        else:
            request.items.append(new)
    for old in kept[len(wanted) :]:
        request.items.remove(old)


def prepare_new_request(request: Request, session: Session, author: User | None) -> None:
    """Fill what the system decides for a new request: number, defaults, first history lines."""
    request.request_date = request.request_date or local_today()
    with session.no_autoflush:  # the request itself is not in the session yet
        request.number = next_request_number(session, request.request_date)
    request.status = request.status or RequestStatus.PREPARING_OFFER
    request.delivery_status = request.delivery_status or DeliveryStatus.NOT_STARTED
    if request.responsible is None and request.responsible_id is None:
        request.responsible = author
    request.status_changes.append(StatusChange(old_value=None, new_value=request.status, comment="", changed_by=author))
    events.request_created(request, author)


def change_status(request: Request, new_status: RequestStatus, comment: str, author: User | None) -> StatusChange:
    change = StatusChange(old_value=request.status, new_value=new_status, comment=comment, changed_by=author)
    request.status = new_status
    request.status_changes.append(change)
    events.status_changed(request, change.old_label, change.new_label, comment, author)
    return change


def change_delivery(request: Request, new_status: DeliveryStatus, comment: str, author: User | None) -> DeliveryChange:
    change = DeliveryChange(old_value=request.delivery_status, new_value=new_status, comment=comment, changed_by=author)
    request.delivery_status = new_status
    request.delivery_changes.append(change)
    events.delivery_changed(request, change.old_label, change.new_label, comment, author)
    return change


def add_comment(request: Request, text: str, author: User | None) -> RequestComment:
    comment = RequestComment(text=text, author=author)
    request.comments.append(comment)
    events.comment_added(request, text, author)
    return comment


def attach_document(
    request: Request,
    stored: StoredFile,
    author: User | None,
    category: DocumentCategory | None = None,
    comment: str | None = None,
    purpose: DocumentPurpose = DocumentPurpose.DOCUMENT,
) -> RequestDocument:
    document = RequestDocument(
        original_name=stored.original_name,
        stored_name=stored.stored_name,
        content_type=stored.content_type,
        size=stored.size,
        category=category,
        comment=comment or None,
        purpose=purpose,
        uploaded_by=author,
    )
    request.documents.append(document)
    events.document_added(request, stored.original_name, author)
    return document


def timeline(request: Request) -> list[RequestComment | RequestDocument]:
    """The request's documentation: documents and comments in one list, newest first."""
    entries: list = [*request.comments, *request.documents]
    return sorted(entries, key=lambda e: getattr(e, "created_on", None) or e.uploaded_on, reverse=True)


@event.listens_for(Session, "before_flush")
def _keep_equipment_in_step(session: Session, _flush_context, _instances) -> None:
    """Refresh each touched request's equipment text and teach the catalogue its new items."""
    requests: dict[int, Request] = {}
    for obj in list(session.new) + list(session.dirty):
        if isinstance(obj, Request):
            requests[id(obj)] = obj
        elif isinstance(obj, RequestItem) and obj.request is not None:
            requests[id(obj.request)] = obj.request
    # An item edited in place teaches the catalogue its new values as a new item would.
    new_items = [obj for obj in session.new if isinstance(obj, RequestItem)] + [
        obj for obj in session.dirty if isinstance(obj, RequestItem) and session.is_modified(obj)
    ]
    for request in requests.values():
        if request in session.deleted:
            continue
        request.equipment_text = "\n".join(item.describe() for item in request.items)
    if new_items:
        remember_items(session, new_items)


@event.listens_for(Session, "after_flush")
def _note_deleted_files(session: Session, _flush_context) -> None:
    doomed = session.info.setdefault("files_to_discard", [])
    doomed.extend(obj.stored_name for obj in session.deleted if isinstance(obj, RequestDocument))


@event.listens_for(Session, "after_commit")
def _discard_deleted_files(session: Session) -> None:
    """A deleted document's file goes only once the deletion is committed."""
    for stored_name in session.info.pop("files_to_discard", []):
        discard(stored_name)


@event.listens_for(Session, "after_rollback")
def _keep_files_on_rollback(session: Session) -> None:
    session.info.pop("files_to_discard", None)
