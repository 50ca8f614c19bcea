"""Checking an import's rows and applying them, through the ORM session: the duplicate key, the
search text, the stamps and the audit trail are those of a record typed in by hand.

Rows are written in chunks, each its own transaction, so the progress shows and a crash keeps
what was done. A chunk's new organisations and their contacts go in as bulk INSERTs (one
statement per table, their search keys, stamps and audit entries computed here, as the flush
listeners would); merges into existing organisations go through the unit of work. Every record
an import creates or fills is noted in ImportChange with its changed_on right after the import,
which is how the undo (app/spreadsheets/undoing.py) knows whether someone changed it since.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session, selectinload

from app.domain.audit import VIA_IMPORT, record_bulk
from app.files import stored_path
from app.models.clients import Contact, Organization, name_key, sort_key
from app.models.imports import ImportBatch, ImportChange, ImportState
from app.models.stamps import acting_user_id, utcnow
from app.spreadsheets.planning import CONTACT_FIELDS, ORGANIZATION_FIELDS, Outcome, RowPlan, plan_rows
from app.spreadsheets.reading import Table, TextFormat, UnreadableFile, open_table

SAMPLE_ROWS = 200  # rows of the dry run shown on the page; errors are all in the error file
CHUNK_ROWS = 1000  # rows per transaction: the progress moves, and a chunk's INSERTs stay a few statements


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
class _NewOrganization:
    """An organisation the chunk creates, with the contacts its rows give it (the first primary)."""

    fields: dict[str, object]
    contacts: list[dict[str, str]]

    def merge(self, plan: RowPlan) -> None:
        """A later row of the same company: empty fields take its values, its contacts are added."""
        for name, value in plan.organization.items():
            if name != "name" and not self.fields.get(name):
                self.fields[name] = value
        self.contacts += plan.contacts

    def row(self, stamps: dict[str, object]) -> dict[str, object]:
        """The INSERT's values, the derived columns as the flush listener computes them."""
        fields = {name: self.fields.get(name) for name in ORGANIZATION_FIELDS}
        transient = Organization(**fields)  # never added to the session: only its search text
        search_text = transient.build_search_text([Contact(**contact) for contact in self.contacts])
        return {
            **fields,
            "responsible_id": self.fields["responsible_id"],
            "name_key": name_key(fields["name"]),
            "sort_key": sort_key(fields["name"]),
            "search_text": search_text,
            **stamps,
        }


@dataclass
class _Run:
    session: Session
    batch: ImportBatch
    user_id: int
    created: dict[str, int] = field(default_factory=dict)  # duplicate key -> new organisation's id
    fills: dict[int, ImportChange] = field(default_factory=dict)  # existing organisation -> its change
    new: dict[str, _NewOrganization] = field(default_factory=dict)  # created by this chunk, by key
    noted: list[Contact] = field(default_factory=list)  # contacts this chunk adds to existing organisations
    touched: set[int] = field(default_factory=set)  # organisations whose change stamp is refreshed

    def load_merged(self, plans: list[RowPlan]) -> dict[int, Organization]:
        """The organisations the chunk's rows merge into, with their contacts, in one query."""
        ids = {plan.existing_id for plan in plans if plan.existing_id is not None}
        ids |= {self.created[plan.key] for plan in plans if plan.existing_id is None and plan.key in self.created}
        if not ids:
            return {}
        query = select(Organization).where(Organization.id.in_(ids)).options(selectinload(Organization.contacts))
        return {organization.id: organization for organization in self.session.scalars(query).unique()}

    def add_contacts(self, organization: Organization, contacts: list[dict[str, str]], note: bool) -> None:
        has_primary = any(contact.is_primary for contact in organization.contacts)
        for fields in contacts:
            contact = Contact(**fields, is_primary=not has_primary)
            has_primary = True
            organization.contacts.append(contact)
            if note:
                self.noted.append(contact)

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

    def note_fill(self, organization: Organization, previous: dict[str, object]) -> None:
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

    def apply(self, plan: RowPlan, merged: dict[int, Organization]) -> None:
        if plan.outcome == Outcome.ERROR:
            self.batch.error_rows += 1
            self.batch.done_rows += 1
            return
        if plan.existing_id is None and plan.key in self.new:  # an earlier row of this chunk
            self.new[plan.key].merge(plan)
        elif plan.existing_id is None and plan.key not in self.created:
            fields = {**plan.organization, "responsible_id": plan.responsible_id or self.user_id}
            self.new[plan.key] = _NewOrganization(fields, list(plan.contacts))
            self.batch.created_organizations += 1
        else:  # into the client base, or into an organisation an earlier chunk created
            existing_id = plan.existing_id if plan.existing_id is not None else self.created[plan.key]
            organization = merged.get(existing_id)
            if organization is None:  # deleted since the dry run
                self.batch.error_rows += 1
                return
            previous = self.fill(organization, plan)
            if plan.existing_id is not None:
                self.note_fill(organization, previous)
            self.add_contacts(organization, plan.contacts, note=plan.existing_id is not None)
            self.touched.add(organization.id)
        if plan.outcome == Outcome.MERGE:
            self.batch.merged_organizations += 1
        self.batch.created_contacts += len(plan.contacts)
        self.batch.done_rows += 1

    def insert_new(self) -> None:
        """The chunk's new organisations and their contacts, one executemany INSERT per table,
        with the stamps, search keys, audit entries and import changes the unit of work would
        have written. No RETURNING: a multi-row RETURNING statement costs more to build than the
        INSERT itself, so the ids are read back, from above the highest id before the INSERT."""
        if not self.new:
            return
        user_id, now = acting_user_id(), utcnow()
        stamps = {"created_on": now, "changed_on": now, "created_by_fk": user_id, "changed_by_fk": user_id}
        news = list(self.new.values())
        rows = [organization.row(stamps) for organization in news]
        before = {model: self.session.scalar(select(func.max(model.id))) or 0 for model in (Organization, Contact)}
        self.session.execute(insert(Organization), rows)
        ids = dict(self.inserted_since(Organization, before[Organization], Organization.name_key, Organization.id))
        for row in rows:
            row["id"] = ids[row["name_key"]]
        contacts = [
            {
                **dict.fromkeys(CONTACT_FIELDS),
                **fields,
                "notes": None,
                "organization_id": row["id"],
                "is_primary": index == 0,
                **stamps,
            }
            for row, organization in zip(rows, news, strict=True)
            for index, fields in enumerate(organization.contacts)
        ]
        if contacts:
            self.session.execute(insert(Contact), contacts)
            # New organisations, so all their contacts are these: their ids, in the order inserted.
            by_organization: dict[int, list[int]] = {}
            for contact_id, organization_id in self.inserted_since(
                Contact, before[Contact], Contact.id, Contact.organization_id
            ):
                by_organization.setdefault(organization_id, []).append(contact_id)
            for contact in contacts:
                contact["id"] = by_organization[contact["organization_id"]].pop(0)
        record_bulk(self.session, "create", Organization, rows)
        record_bulk(self.session, "create", Contact, contacts)
        self.session.execute(
            insert(ImportChange),
            [
                {
                    "batch_id": self.batch.id,
                    "entity": "organization",
                    "entity_id": row["id"],
                    "action": "create",
                    "previous": "{}",
                    "stamp": now,
                }
                for row in rows
            ],
        )
        self.created.update((key, row["id"]) for key, row in zip(self.new, rows, strict=True))

    def inserted_since(self, model: type, lowest: int, *columns) -> list:
        """Columns of the rows inserted since `lowest` was the highest id, in id order: a range of
        the primary key, whatever the planner thinks of a table that grew in this transaction."""
        return self.session.execute(select(*columns).where(model.id > lowest).order_by(model.id)).all()

    def commit_chunk(self) -> None:
        """Write the chunk, note what it created, and bring the change stamps up to the records'."""
        self.session.flush()  # the merges, through the unit of work (stamps, search text, audit)
        self.insert_new()
        if self.noted:
            self.session.execute(
                insert(ImportChange),
                [
                    {
                        "batch_id": self.batch.id,
                        "entity": "contact",
                        "entity_id": contact.id,
                        "action": "create",
                        "previous": "{}",
                        "stamp": contact.changed_on,
                    }
                    for contact in self.noted
                ],
            )
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
        self.new.clear()
        self.noted.clear()
        self.touched.clear()


def run_import(batch: ImportBatch, user_id: int, session: Session) -> None:
    """Import the rows (the plan is made again: the client base may have changed since the dry run)."""
    batch.done_rows = batch.error_rows = 0
    batch.created_organizations = batch.merged_organizations = batch.created_contacts = 0
    run = _Run(session=session, batch=batch, user_id=user_id)
    _table, plans = batch_plans(batch, session)
    with audited_as(session, batch):
        for chunk in _chunks(plans, CHUNK_ROWS):
            merged = run.load_merged(chunk)
            for plan in chunk:
                run.apply(plan, merged)
            run.commit_chunk()
        batch.state, batch.finished_on = ImportState.DONE, utcnow()
        session.commit()


def _chunks(plans: Iterator[RowPlan], size: int) -> Iterator[list[RowPlan]]:
    chunk: list[RowPlan] = []
    for plan in plans:
        chunk.append(plan)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@contextmanager
def audited_as(session: Session, batch: ImportBatch) -> Iterator[None]:
    """The audit trail of what happens inside says «через импорт №N»."""
    session.info[VIA_IMPORT] = batch.id
    try:
        yield
    finally:
        session.info.pop(VIA_IMPORT, None)
