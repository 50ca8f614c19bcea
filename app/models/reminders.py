"""Reminders: what a manager asked to be reminded of, and where its e-mail stands."""

from __future__ import annotations

import enum
from datetime import datetime

from flask_appbuilder import Model
from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.clients import Organization
from app.models.requests import Request
from app.models.stamps import utcnow
from app.models.users import CrmUser


class Delivery(enum.StrEnum):
    """Where the reminder's e-mail stands; "done" is the manager's own mark, kept apart."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    # No mail server is configured: the reminder reached the Agent and «Мои напоминания» only.
    NO_EMAIL = "no_email"


class Reminder(Model):
    __tablename__ = "reminder"
    __table_args__ = (
        # The sweep's query: pending reminders whose next attempt is due.
        Index("ix_reminder_delivery_next_attempt", "delivery", "next_attempt_at"),
        Index("ix_reminder_owner_due", "owner_id", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("client_request.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    delivery: Mapped[str] = mapped_column(String(16), nullable=False, default=Delivery.PENDING)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_on: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)

    owner: Mapped[CrmUser] = relationship(CrmUser, foreign_keys=[owner_id])
    organization: Mapped[Organization | None] = relationship(Organization)
    request: Mapped[Request | None] = relationship(Request)

    @property
    def subject(self) -> Organization | Request | None:
        return self.request or self.organization
