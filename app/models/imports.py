"""Client-base imports: the uploaded file, its mapping, its progress, and what it changed.

An import's changes are kept record by record so that the whole import can be undone: what it
created is deleted, what it filled in an existing organisation is emptied again.
"""

from __future__ import annotations

import enum
from datetime import datetime

from flask_appbuilder import Model
from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.stamps import utcnow
from app.models.users import CrmUser


class ImportState(enum.StrEnum):
    UPLOADED = "uploaded"  # file stored, columns not mapped yet
    CHECKING = "checking"  # a large file's dry run, in the worker
    CHECKED = "checked"  # dry run done: the user sees what will happen
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    UNDOING = "undoing"  # the undo, in the worker
    UNDONE = "undone"


class ImportBatch(Model):
    __tablename__ = "import_batch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"), index=True)
    original_name: Mapped[str] = mapped_column(String(255), nullable=False)
    stored_name: Mapped[str] = mapped_column(String(64), nullable=False)
    file_kind: Mapped[str] = mapped_column(String(8), nullable=False)  # xlsx or csv
    encoding: Mapped[str | None] = mapped_column(String(32))
    delimiter: Mapped[str | None] = mapped_column(String(4))
    mapping: Mapped[str] = mapped_column(Text, nullable=False, default="{}")  # JSON {column index: field}
    state: Mapped[str] = mapped_column(String(16), nullable=False, default=ImportState.UPLOADED)
    total_rows: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    done_rows: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error_rows: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_organizations: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    merged_organizations: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # rows merged
    created_contacts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    summary: Mapped[str] = mapped_column(Text, nullable=False, default="{}")  # the dry run's counts, JSON
    message: Mapped[str | None] = mapped_column(Text)
    created_on: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    finished_on: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[CrmUser | None] = relationship(CrmUser)


class ImportChange(Model):
    """One record an import created or filled in, with the values it had before."""

    __tablename__ = "import_change"
    __table_args__ = (Index("ix_import_change_batch", "batch_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("import_batch.id", ondelete="CASCADE"), nullable=False)
    entity: Mapped[str] = mapped_column(String(16), nullable=False)  # organization, contact
    entity_id: Mapped[int] = mapped_column(Integer, nullable=False)
    action: Mapped[str] = mapped_column(String(8), nullable=False)  # create, fill
    previous: Mapped[str] = mapped_column(Text, nullable=False, default="{}")  # JSON of filled fields' old values
    # The record's changed_on right after the import: a later time means someone changed it since.
    stamp: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class ImportMapping(Model):
    """A saved column mapping, by header text, reused for the next file of the same shape."""

    __tablename__ = "import_mapping"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False, unique=True)
    fields: Mapped[str] = mapped_column(Text, nullable=False, default="{}")  # JSON {header text: field}
    created_on: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
