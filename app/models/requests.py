"""Requests (запросы): a client's enquiry with its equipment, documents, histories and finance."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from flask_appbuilder import Model
from flask_appbuilder.models.decorators import renders
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.clients import Organization
from app.models.stamps import StampedMixin, utcnow
from app.models.users import CrmUser


class RequestStatus(enum.StrEnum):
    PREPARING_OFFER = "preparing_offer"
    IN_PROGRESS = "in_progress"
    STALLED = "stalled"
    COMPLETED = "completed"
    DEAD = "dead"


class DeliveryStatus(enum.StrEnum):
    NOT_STARTED = "not_started"
    PREPARING_SHIPMENT = "preparing_shipment"
    SHIPPED = "shipped"
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"


STATUS_LABELS = {
    RequestStatus.PREPARING_OFFER: _l("Preparing offer"),
    RequestStatus.IN_PROGRESS: _l("In progress"),
    RequestStatus.STALLED: _l("Stalled"),
    RequestStatus.COMPLETED: _l("Order completed"),
    RequestStatus.DEAD: _l("Dead"),
}
DELIVERY_LABELS = {
    DeliveryStatus.NOT_STARTED: _l("Not started"),
    DeliveryStatus.PREPARING_SHIPMENT: _l("Preparing shipment"),
    DeliveryStatus.SHIPPED: _l("Shipped"),
    DeliveryStatus.IN_TRANSIT: _l("In transit"),
    DeliveryStatus.DELIVERED: _l("Delivered"),
}


def _activity_default(context) -> datetime:
    return context.get_current_parameters().get("created_on") or utcnow()


class RequestNumberCounter(Model):
    """The last number handed out per year; only ever incremented, so numbers are never reused."""

    __tablename__ = "request_number_counter"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_value: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class Request(StampedMixin, Model):
    __tablename__ = "client_request"
    __table_args__ = (
        Index("ix_client_request_org_date", "organization_id", "request_date"),
        Index("ix_client_request_status_date", "status", "request_date"),
        Index("ix_client_request_status_id", "status", "id"),
        # A manager with scope "own": his requests by status, and "has he a request there?" asked
        # of one organisation (probe) or of a whole list (PostgreSQL then hashes his organisations).
        Index("ix_client_request_responsible_status", "responsible_id", "status", "id"),
        Index("ix_client_request_org_responsible", "organization_id", "responsible_id"),
        Index("ix_client_request_responsible_org", "responsible_id", "organization_id"),
        # The radar and the board: open requests by how long they have been quiet; due next steps.
        Index("ix_client_request_status_activity", "status", "last_activity_at"),
        Index("ix_client_request_next_step", "next_step_on"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(20), nullable=False, unique=True)
    request_date: Mapped[date] = mapped_column(Date, nullable=False, default=date.today, index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), nullable=False)
    responsible_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(String(32), nullable=False, default=RequestStatus.PREPARING_OFFER)
    delivery_status: Mapped[str] = mapped_column(
        String(32), nullable=False, default=DeliveryStatus.NOT_STARTED, index=True
    )
    # "type / name / sub-name / capacity × qty" lines of the items: what list filters search in.
    equipment_text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    payment_terms: Mapped[str | None] = mapped_column(Text)
    contract_number: Mapped[str | None] = mapped_column(String(64))
    invoice_number: Mapped[str | None] = mapped_column(String(64))
    contract_price: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    currency: Mapped[str] = mapped_column(String(3), nullable=False, default="RUB")
    finance_comment: Mapped[str | None] = mapped_column(Text)
    # The manager's next action: the start page lists it when its day has come.
    next_step_on: Mapped[date | None] = mapped_column(Date)
    next_step_text: Mapped[str | None] = mapped_column(String(200))
    # The last status change, comment, document or item change: where a quiet spell starts
    # (kept by app/domain/activity.py). Bulk inserts that give created_on start there.
    last_activity_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=_activity_default)
    # The quiet spell (its last_activity_at) the radar has already reminded the responsible of.
    radar_reminded_for: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    # Joined: the requests list shows both on every row; one join instead of a query per row.
    organization: Mapped[Organization] = relationship(foreign_keys=[organization_id], backref="requests", lazy="joined")
    responsible: Mapped[CrmUser | None] = relationship(CrmUser, foreign_keys=[responsible_id], lazy="joined")
    items: Mapped[list[RequestItem]] = relationship(
        back_populates="request", cascade="all, delete-orphan", order_by="RequestItem.position"
    )
    status_changes: Mapped[list[StatusChange]] = relationship(
        back_populates="request", cascade="all, delete-orphan", order_by="StatusChange.id"
    )
    delivery_changes: Mapped[list[DeliveryChange]] = relationship(
        back_populates="request", cascade="all, delete-orphan", order_by="DeliveryChange.id"
    )
    comments: Mapped[list[RequestComment]] = relationship(
        back_populates="request", cascade="all, delete-orphan", order_by="RequestComment.id"
    )
    documents: Mapped[list[RequestDocument]] = relationship(
        back_populates="request", cascade="all, delete-orphan", order_by="RequestDocument.id"
    )

    def __str__(self) -> str:
        return self.number

    @property
    def equipment(self) -> list[RequestItem]:
        """The items under the name of the form field that edits them."""
        return list(self.items)

    @property
    def activity(self) -> Request:
        """The lists' «without activity» column: its badge needs the status and the time together."""
        return self

    @renders("contract_price")
    def price(self) -> tuple[Decimal | None, str]:
        """The lists' price column: the amount with its own currency, sorted by the amount."""
        return self.contract_price, self.currency

    @property
    def status_label(self) -> str:
        return str(STATUS_LABELS.get(RequestStatus(self.status), self.status))

    @property
    def delivery_label(self) -> str:
        return str(DELIVERY_LABELS.get(DeliveryStatus(self.delivery_status), self.delivery_status))

    def latest_document(self, purpose: str) -> RequestDocument | None:
        matching = [d for d in self.documents if d.purpose == purpose]
        return matching[-1] if matching else None


class RequestItem(Model):
    """One position of the contract subject: type / name / sub-name / capacity, and quantity."""

    __tablename__ = "request_item"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("client_request.id", ondelete="CASCADE"), nullable=False, index=True
    )
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    equipment_type: Mapped[str] = mapped_column(String(255), nullable=False)
    name: Mapped[str | None] = mapped_column(String(255))
    subname: Mapped[str | None] = mapped_column(String(255))
    capacity: Mapped[str | None] = mapped_column(String(255))
    quantity: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    request: Mapped[Request] = relationship(back_populates="items")

    def describe(self) -> str:
        parts = [p for p in (self.equipment_type, self.name, self.subname, self.capacity) if p]
        return " / ".join(parts) + (f" × {self.quantity}" if self.quantity and self.quantity != 1 else "")

    def __str__(self) -> str:
        return self.describe()


class _HistoryMixin:
    """An append-only history entry: what changed, the required comment, who and when."""

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    old_value: Mapped[str | None] = mapped_column(String(32))
    new_value: Mapped[str] = mapped_column(String(32), nullable=False)
    comment: Mapped[str] = mapped_column(Text, nullable=False)
    changed_on: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)


class StatusChange(_HistoryMixin, Model):
    __tablename__ = "request_status_change"
    # The reports find when each request was won or lost in a period from this index alone.
    __table_args__ = (Index("ix_request_status_change_closing", "new_value", "changed_on", "request_id"),)

    request_id: Mapped[int] = mapped_column(
        ForeignKey("client_request.id", ondelete="CASCADE"), nullable=False, index=True
    )
    changed_by_fk: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    request: Mapped[Request] = relationship(back_populates="status_changes")
    changed_by: Mapped[CrmUser | None] = relationship(CrmUser)

    @property
    def old_label(self) -> str:
        return str(STATUS_LABELS[RequestStatus(self.old_value)]) if self.old_value else ""

    @property
    def new_label(self) -> str:
        return str(STATUS_LABELS[RequestStatus(self.new_value)])


class DeliveryChange(_HistoryMixin, Model):
    __tablename__ = "request_delivery_change"

    request_id: Mapped[int] = mapped_column(
        ForeignKey("client_request.id", ondelete="CASCADE"), nullable=False, index=True
    )
    changed_by_fk: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    request: Mapped[Request] = relationship(back_populates="delivery_changes")
    changed_by: Mapped[CrmUser | None] = relationship(CrmUser)

    @property
    def old_label(self) -> str:
        return str(DELIVERY_LABELS[DeliveryStatus(self.old_value)]) if self.old_value else ""

    @property
    def new_label(self) -> str:
        return str(DELIVERY_LABELS[DeliveryStatus(self.new_value)])


class RequestComment(Model):
    __tablename__ = "request_comment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("client_request.id", ondelete="CASCADE"), nullable=False, index=True
    )
    text: Mapped[str] = mapped_column(Text, nullable=False)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    created_on: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)

    request: Mapped[Request] = relationship(back_populates="comments")
    author: Mapped[CrmUser | None] = relationship(CrmUser)


class DocumentCategory(Model):
    """Categories of request documents; the administrator edits the list."""

    __tablename__ = "document_category"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False, unique=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

    def __str__(self) -> str:
        return self.name


class DocumentPurpose(enum.StrEnum):
    DOCUMENT = "document"
    PRICE_CALCULATION = "price_calculation"
    INVOICE = "invoice"


class RequestDocument(Model):
    """A file attached to a request; stored under a server-made name, served only after an access check."""

    __tablename__ = "request_document"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("client_request.id", ondelete="CASCADE"), nullable=False, index=True
    )
    category_id: Mapped[int | None] = mapped_column(ForeignKey("document_category.id", ondelete="SET NULL"))
    purpose: Mapped[str] = mapped_column(String(32), nullable=False, default=DocumentPurpose.DOCUMENT)
    original_name: Mapped[str] = mapped_column(String(255), nullable=False)
    stored_name: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    comment: Mapped[str | None] = mapped_column(Text)
    uploaded_by_fk: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    uploaded_on: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)

    request: Mapped[Request] = relationship(back_populates="documents")
    category: Mapped[DocumentCategory | None] = relationship()
    uploaded_by: Mapped[CrmUser | None] = relationship(CrmUser)
