"""Agent events: what happened, recorded in the same transaction as the change itself."""

from __future__ import annotations

import enum
from datetime import datetime

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from app.models.requests import Request
from app.models.stamps import utcnow


class EventKind(enum.StrEnum):
    REQUEST_CREATED = "request_created"
    REQUEST_STATUS = "request_status"
    DELIVERY_STATUS = "delivery_status"
    REQUEST_COMMENT = "request_comment"
    REMINDER = "reminder"


KIND_LABELS = {
    EventKind.REQUEST_CREATED: _l("A new request was added"),
    EventKind.REQUEST_STATUS: _l("A request's status changed"),
    EventKind.DELIVERY_STATUS: _l("A delivery status changed"),
    EventKind.REQUEST_COMMENT: _l("A comment or document was added to a request"),
    EventKind.REMINDER: _l("My reminders"),
}


class AgentEvent(Model):
    __tablename__ = "agent_event"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("client_request.id", ondelete="CASCADE"), index=True)
    reminder_id: Mapped[int | None] = mapped_column(ForeignKey("reminder.id", ondelete="CASCADE"))
    # Reminders are for their owner alone; request events for whoever may see the request.
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(255), nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False)
    # Indexed: the start page counts the events since the manager's last visit.
    created_on: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow, index=True)

    request: Mapped[Request | None] = relationship(
        Request, backref=backref("agent_events", cascade="all, delete-orphan", passive_deletes=True)
    )


class AgentSettings(Model):
    """Which notifications a manager wants from his Agent, and how often it asks."""

    __tablename__ = "agent_settings"

    user_id: Mapped[int] = mapped_column(ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True)
    request_created: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    request_status: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    delivery_status: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    request_comment: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    reminder: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    poll_seconds: Mapped[int] = mapped_column(Integer, nullable=False, default=30)

    def enabled_kinds(self) -> list[str]:
        return [kind.value for kind in EventKind if getattr(self, kind.value)]
