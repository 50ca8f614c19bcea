"""The audit trail: every create, change and delete with its time, its user and old/new values.

Rows are written by app/domain/audit.py in the same flush as the change; nothing edits them.
"""

from __future__ import annotations

from datetime import datetime

from flask_appbuilder import Model
from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.stamps import utcnow
from app.models.users import CrmUser


class AuditEntry(Model):
    __tablename__ = "audit_entry"
    __table_args__ = (
        Index("ix_audit_entry_organization", "organization_id", "id"),
        Index("ix_audit_entry_request", "request_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    occurred_on: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(8), nullable=False)  # create, update, delete
    entity: Mapped[str] = mapped_column(String(32), nullable=False)
    entity_id: Mapped[int | None] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    # Where the entry shows: the organisation's page (its own data and contacts) or the request's.
    organization_id: Mapped[int | None] = mapped_column(Integer)
    request_id: Mapped[int | None] = mapped_column(Integer)
    changes: Mapped[str] = mapped_column(Text, nullable=False, default="{}")  # JSON {field: [old, new]}

    user: Mapped[CrmUser | None] = relationship(CrmUser)
