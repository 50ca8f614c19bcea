"""Applying an import and undoing it, through the ORM session so that the duplicate key, the
search text, the stamps and the audit trail are written as for a record typed in by hand.

Rows are written in chunks, each its own transaction, so the progress shows and a crash keeps
what was done; every record an import creates or fills is noted in ImportChange with its
changed_on right after the import, which is how the undo knows whether someone changed it since.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from app.domain.audit import VIA_IMPORT
from app.files import stored_path
from app.formatting import local_datetime
from app.models.clients import Contact, Organization
from app.models.imports import ImportBatch, ImportChange, ImportState
from app.models.reminders import Reminder
from app.models.requests import Request
from app.models.stamps import utcnow
from app.spreadsheets.planning import Outcome, RowPlan, plan_rows
from app.spreadsheets.reading import Table, TextFormat, UnreadableFile, open_table

SAMPLE_ROWS = 200  # rows of the dry run shown on the page; errors are all in the error file
CHUNK_ROWS = 200


def batch_mapping(batch: ImportBatch) -> dict[int, str]:
    return {int(index): key for index, key in json.loads(batch.mapping or "{}").items()}


def open_batch_table(batch: ImportBatch) -> Table:
    text_format = TextFormat(encoding=batch.encoding or "utf-8-sig", delimiter=batch.delimiter or ";")
    return open_table(stored_path(batch.stored_name), batch.file_kind, text_format)


def batch_plans(batch: ImportBatch, session: Session) -> tuple[Table, Iterator[RowPlan]]:
    table = open_batch_table(batch)
    return table, plan_rows(table.rows, table.first_data_row, batch_mapping(batch), session)


def describe(plan: RowPlan) -> str:
    """What will happen to the row, in the user's language."""
    if plan.outcome == Outcome.ERROR:
        return plan.error
    contacts = _("%(count)d contact(s) added", count=plan.new_contacts) if plan.new_contacts else _("no new contacts")
    if plan.outcome == Outcome.MERGE:
        return _("Merged into «%(name)s»; %(contacts)s", name=plan.existing_name, contacts=contacts)
    return _("New organisation; %(contacts)s", contacts=contacts)


def dry_run(batch: ImportBatch, session: Session) -> dict:
    """Every row's outcome counted, the first rows kept for the page; nothing is written."""
    if "organization.name" not in batch_mapping(batch).values():
        raise UnreadableFile(_("Choose the column with the organisation's name."))
    table, plans = batch_plans(batch, session)
    summary = {"new": 0, "merge": 0, "contacts": 0, "error": 0, "rows": [], "header": table.header}
    total = 0
    for plan in plans:
        total += 1
        summary[plan.outcome.value] += 1
        summary["contacts"] += plan.new_contacts
        if len(summary["rows"]) < SAMPLE_ROWS:
            name = plan.organization.get("name") or (plan.cells[0] if plan.cells else "")
            summary["rows"].append([plan.number, plan.outcome.value, name, describe(plan)])
    if total == 0:
        raise UnreadableFile(_("The file has a header but no rows with data. Nothing to import."))
    batch.summary = json.dumps(summary, ensure_ascii=False)
    batch.total_rows, batch.error_rows, batch.done_rows = total, summary["error"], 0
    batch.state = ImportState.CHECKED
    return summary


def error_rows(batch: ImportBatch, session: Session) -> tuple[list[str], Iterator[tuple[list[str], str]]]:
    """The header and the rows that cannot be imported, each with its reason."""
    table, plans = batch_plans(batch, session)
    return table.header, ((plan.cells, plan.error) for plan in plans if plan.outcome == Outcome.ERROR)


@dataclass
class _Run:
    session: Session
    batch: ImportBatch
    user_id: int
    created: dict[str, int] = field(default_factory=dict)  # duplicate key -> new organisation's id
    fills: dict[int, ImportChange] = field(default_factory=dict)  # existing organisation -> its change
    pending: list[tuple[str, object, str]] = field(default_factory=list)  # (entity, record, action)
    touched: set[int] = field(default_factory=set)
    unflushed: dict[str, Organization] = field(default_factory=dict)  # new in this chunk, by key

    def add_contacts(self, organization: Organization, contacts: list[dict[str, str]], note: bool) -> None:
        has_primary = any(contact.is_primary for contact in organization.contacts)
        for fields in contacts:
            contact = Contact(**fields, is_primary=not has_primary)
            has_primary = True
            organization.contacts.append(contact)
            self.batch.created_contacts += 1
            if note:
                self.pending.append(("contact", contact, "create"))

    def fill(self, organization: Organization, plan: RowPlan) -> dict[str, object]:
        """Empty fields take the file's values; what the organisation has stays as it is."""
        previous: dict[str, object] = {}
        for name, value in plan.organization.items():
            if name != "name" and not getattr(organization, name):
                previous[name] = getattr(organization, name)
                setattr(organization, name, value)
        if plan.responsible_id and organization.responsible_id is None:
            previous["responsible_id"] = None
            organization.responsible_id = plan.responsible_id
        return previous

    def apply(self, plan: RowPlan) -> None:
        if plan.outcome == Outcome.ERROR:
            self.batch.error_rows += 1
        elif plan.existing_id is not None:
            organization = self.session.get(Organization, plan.existing_id)
            if organization is None:  # deleted since the dry run
                self.batch.error_rows += 1
                return
            previous = self.fill(organization, plan)
            change = self.fills.get(organization.id)
            if change is None:
                change = ImportChange(
                    batch_id=self.batch.id,
                    entity="organization",
                    entity_id=organization.id,
                    action="fill",
                    previous="{}",
                    stamp=utcnow(),
                )
                self.session.add(change)
                self.fills[organization.id] = change
            if previous:
                change.previous = json.dumps({**previous, **json.loads(change.previous)}, default=str)
            self.add_contacts(organization, plan.contacts, note=True)
            self.touched.add(organization.id)
            self.batch.merged_organizations += 1
        elif plan.key in self.created or plan.key in self.unflushed:
            organization = self.unflushed.get(plan.key) or self.session.get(Organization, self.created[plan.key])
            self.fill(organization, plan)
            self.add_contacts(organization, plan.contacts, note=False)
            self.touched.add(organization.id)
            self.batch.merged_organizations += 1
        else:
            organization = Organization(**plan.organization, responsible_id=plan.responsible_id or self.user_id)
            self.session.add(organization)
            self.unflushed[plan.key] = organization
            self.add_contacts(organization, plan.contacts, note=False)
            self.pending.append(("organization", organization, "create"))
            self.batch.created_organizations += 1
        self.batch.done_rows += 1

    def commit_chunk(self) -> None:
        """Write the chunk, note what it created, and bring the change stamps up to the records'."""
        self.session.flush()
        for entity, record, action in self.pending:
            self.session.add(
                ImportChange(
                    batch_id=self.batch.id,
                    entity=entity,
                    entity_id=record.id,
                    action=action,
                    previous="{}",
                    stamp=record.changed_on,
                )
            )
            if entity == "organization":
                self.touched.add(record.id)
        for key, organization in self.unflushed.items():
            self.created[key] = organization.id
        self.session.flush()
        if self.touched:
            changed_on = select(Organization.changed_on).where(Organization.id == ImportChange.entity_id)
            self.session.execute(
                update(ImportChange)
                .where(
                    ImportChange.batch_id == self.batch.id,
                    ImportChange.entity == "organization",
                    ImportChange.entity_id.in_(self.touched),
                )
                .values(stamp=changed_on.scalar_subquery())
                .execution_options(synchronize_session=False)
            )
        self.session.commit()
        self.pending.clear()
        self.touched.clear()
        self.unflushed.clear()


def run_import(batch: ImportBatch, user_id: int, session: Session) -> None:
    """Import the rows (the plan is made again: the client base may have changed since the dry run)."""
    batch.done_rows = batch.error_rows = 0
    batch.created_organizations = batch.merged_organizations = batch.created_contacts = 0
    run = _Run(session=session, batch=batch, user_id=user_id)
    _table, plans = batch_plans(batch, session)
    with _audited_as(session, batch):
        for count, plan in enumerate(plans, start=1):
            run.apply(plan)
            if count % CHUNK_ROWS == 0:
                run.commit_chunk()
        run.commit_chunk()
        batch.state, batch.finished_on = ImportState.DONE, utcnow()
        session.commit()


@contextmanager
def _audited_as(session: Session, batch: ImportBatch) -> Iterator[None]:
    """The audit trail of what happens inside says «через импорт №N»."""
    session.info[VIA_IMPORT] = batch.id
    try:
        yield
    finally:
        session.info.pop(VIA_IMPORT, None)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _with_records(session: Session, changes: list[ImportChange]) -> Iterator[tuple[ImportChange, object]]:
    """Each change with its record, loaded 500 at a time (contacts with them: a delete cascades);
    records deleted since are left out."""
    for entity, model in (("contact", Contact), ("organization", Organization)):
        mine = [change for change in changes if change.entity == entity]
        for start in range(0, len(mine), 500):
            part = mine[start : start + 500]
            query = select(model).where(model.id.in_([change.entity_id for change in part]))
            if model is Organization:
                # Its requests too: deleting an organisation otherwise asks for them one by one.
                query = query.options(selectinload(Organization.contacts), selectinload(Organization.requests))
            records = {record.id: record for record in session.scalars(query).unique()}
            for change in part:
                if change.entity_id in records:
                    yield change, records[change.entity_id]


def undo_blockers(batch: ImportBatch, session: Session, limit: int = 20) -> list[str]:
    """Why the import cannot be undone: records changed since, requests or reminders added."""
    blockers: list[str] = []
    changes = session.scalars(select(ImportChange).where(ImportChange.batch_id == batch.id)).all()
    for change, record in _with_records(session, changes):
        if _aware(record.changed_on) != _aware(change.stamp):
            who = record.changed_by
            blockers.append(
                _(
                    "«%(name)s» was changed on %(when)s by %(who)s.",
                    name=str(record),
                    when=local_datetime(record.changed_on),
                    who=str(who) if who else _("the system"),
                )
            )
        if len(blockers) >= limit:
            return blockers
    created = [change.entity_id for change in changes if change.entity == "organization" and change.action == "create"]
    for start in range(0, len(created), 500):
        ids = created[start : start + 500]
        for model, text in (
            (Request, _("«%(name)s» has requests now.")),
            (Reminder, _("«%(name)s» has reminders now.")),
        ):
            rows = session.execute(
                select(Organization.name)
                .where(Organization.id.in_(ids))
                .where(Organization.id.in_(select(model.organization_id).where(model.organization_id.in_(ids))))
            ).scalars()
            blockers += [text % {"name": name} for name in rows]
        if len(blockers) >= limit:
            break
    return blockers[:limit]


def undo_import(batch: ImportBatch, session: Session) -> list[str]:
    """Delete what the import created and empty what it filled; refused (with reasons) if any of
    it was changed since. Returns the reasons, empty when the import was undone."""
    blockers = undo_blockers(batch, session)
    if blockers:
        return blockers
    changes = session.scalars(
        select(ImportChange).where(ImportChange.batch_id == batch.id).order_by(ImportChange.id.desc())
    ).all()
    with _audited_as(session, batch):
        for done, (change, record) in enumerate(_with_records(session, changes), start=1):
            if change.action == "create":
                session.delete(record)
            else:
                for name, value in json.loads(change.previous).items():
                    setattr(record, name, value)
            if done % 500 == 0:
                session.flush()
        batch.state, batch.finished_on = ImportState.UNDONE, utcnow()
        session.commit()
    return []
