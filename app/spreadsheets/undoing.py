"""Undoing an import: what it created is deleted, what it filled in existing organisations is
emptied again, unless someone has worked on those records since.

The check is a few set-wise queries (a record's changed_on against the stamp the import noted
for it); the organisations the import created go in bulk DELETEs, their audit entries written
alongside, so that 50,000 of them take seconds, in the worker (app/jobs/imports.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from flask_babel import gettext as _
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.domain.audit import record_bulk
from app.formatting import local_datetime
from app.models.clients import Contact, Organization
from app.models.imports import ImportBatch, ImportChange, ImportState
from app.models.reminders import Reminder
from app.models.requests import Request
from app.models.stamps import utcnow
from app.spreadsheets.importing import audited_as

DELETE_CHUNK = 1000


def _who(user: object) -> str:
    return str(user) if user else _("the system")


def _changed_records(batch: ImportBatch, session: Session, limit: int) -> list[str]:
    """Records the import created or filled whose changed_on is no longer the one it noted."""
    blockers: list[str] = []
    for entity, model in (("organization", Organization), ("contact", Contact)):
        query = (
            select(model)
            .join(ImportChange, ImportChange.entity_id == model.id)
            .where(ImportChange.batch_id == batch.id, ImportChange.entity == entity)
            .where(model.changed_on != ImportChange.stamp)
            .order_by(ImportChange.id)
            .limit(limit)
        )
        for record in session.scalars(query).unique():
            when, who = local_datetime(record.changed_on), _who(record.changed_by)
            if model is Contact:
                text = _(
                    "Contact «%(name)s» of «%(organization)s» was changed on %(when)s by %(who)s.",
                    name=record.full_name,
                    organization=record.organization.name,
                    when=when,
                    who=who,
                )
            else:
                text = _("«%(name)s» was changed on %(when)s by %(who)s.", name=record.name, when=when, who=who)
            blockers.append(text)
    return blockers


def _later_contacts(batch: ImportBatch, session: Session, limit: int) -> list[str]:
    """Contacts added to, or edited on, an organisation the import created, after the import
    ended: its undo would delete them with it."""
    if batch.finished_on is None:
        return []
    query = (
        select(Contact)
        .join(ImportChange, ImportChange.entity_id == Contact.organization_id)
        .where(
            ImportChange.batch_id == batch.id,
            ImportChange.entity == "organization",
            ImportChange.action == "create",
            Contact.changed_on > batch.finished_on,
        )
        .order_by(Contact.id)
        .limit(limit)
    )
    blockers = []
    for contact in session.scalars(query).unique():
        names = {"name": contact.full_name, "organization": contact.organization.name}
        if contact.created_on > batch.finished_on:
            text = _(
                "Contact «%(name)s» was added to «%(organization)s» on %(when)s by %(who)s.",
                **names,
                when=local_datetime(contact.created_on),
                who=_who(contact.created_by),
            )
        else:
            text = _(
                "Contact «%(name)s» of «%(organization)s» was changed on %(when)s by %(who)s.",
                **names,
                when=local_datetime(contact.changed_on),
                who=_who(contact.changed_by),
            )
        blockers.append(text)
    return blockers


def _new_work(batch: ImportBatch, session: Session, limit: int) -> list[str]:
    """Requests and reminders of an organisation the import created."""
    blockers = []
    for model, text in (
        (Request, _("«%(name)s» has requests now.")),
        (Reminder, _("«%(name)s» has reminders now.")),
    ):
        names = session.scalars(
            select(Organization.name)
            .join(ImportChange, ImportChange.entity_id == Organization.id)
            .where(
                ImportChange.batch_id == batch.id,
                ImportChange.entity == "organization",
                ImportChange.action == "create",
                Organization.id.in_(select(model.organization_id)),
            )
            .order_by(Organization.id)
            .limit(limit)
        )
        blockers += [text % {"name": name} for name in names]
    return blockers


def undo_blockers(batch: ImportBatch, session: Session, limit: int = 20) -> list[str]:
    """Why the import cannot be undone: its records changed since, contacts, requests or
    reminders added to what it created."""
    blockers = _changed_records(batch, session, limit)
    blockers += _later_contacts(batch, session, limit)
    blockers += _new_work(batch, session, limit)
    return blockers[:limit]


def _chunked(ids: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _restore_merged(batch: ImportBatch, session: Session) -> None:
    """The contacts it added to existing organisations deleted, the fields it filled emptied,
    through the unit of work: their organisations' search text and history follow."""
    changes = session.scalars(
        select(ImportChange)
        .where(ImportChange.batch_id == batch.id)
        .where((ImportChange.entity == "contact") | (ImportChange.action == "fill"))
        .order_by(ImportChange.id.desc())
    ).all()
    # Fields first: the contacts' delete then writes the search text from what remains.
    for entity, model in (("organization", Organization), ("contact", Contact)):
        mine = [change for change in changes if change.entity == entity]
        for part in _chunked(mine, 500):
            query = select(model).where(model.id.in_([change.entity_id for change in part]))
            records = {record.id: record for record in session.scalars(query).unique()}
            for change in part:
                record = records.get(change.entity_id)  # None: deleted since
                if record is None:
                    continue
                if change.action == "create":
                    session.delete(record)
                else:
                    for name, value in json.loads(change.previous).items():
                        setattr(record, name, value)
            session.flush()


def _delete_created(batch: ImportBatch, session: Session) -> None:
    """The organisations it created, with their contacts, in bulk DELETEs (their history too)."""
    ids = list(
        session.scalars(
            select(ImportChange.entity_id).where(
                ImportChange.batch_id == batch.id,
                ImportChange.entity == "organization",
                ImportChange.action == "create",
            )
        )
    )
    for part in _chunked(ids, DELETE_CHUNK):
        for model, owner in ((Contact, Contact.organization_id), (Organization, Organization.id)):
            rows = session.execute(select(*model.__table__.columns).where(owner.in_(part))).mappings()
            record_bulk(session, "delete", model, [dict(row) for row in rows])
            session.execute(delete(model).where(owner.in_(part)), execution_options={"synchronize_session": False})


def undo_import(batch: ImportBatch, session: Session) -> list[str]:
    """Delete what the import created and empty what it filled; refused (with reasons) if any of
    it was changed since. Returns the reasons, empty when the import was undone."""
    blockers = undo_blockers(batch, session)
    if blockers:
        return blockers
    with audited_as(session, batch):
        _restore_merged(batch, session)
        _delete_created(batch, session)
        batch.state, batch.finished_on = ImportState.UNDONE, utcnow()
        session.commit()
    return []
