"""Who created and last changed a record, and when: stamped on every flush, in UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import g, has_request_context
from sqlalchemy import DateTime, ForeignKey, event
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column, relationship

from app.models.users import CrmUser


def utcnow() -> datetime:
    return datetime.now(UTC)


def acting_user_id() -> int | None:
    """The logged-in user of the current request; jobs and CLI commands act as nobody."""
    if has_request_context():
        user = getattr(g, "user", None)
        if user is not None and getattr(user, "is_authenticated", False):
            return user.id
    return None


class StampedMixin:
    """created/changed by and on. Times are timezone-aware UTC and shown in the user's zone."""

    created_on: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    changed_on: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)

    @declared_attr
    def created_by_fk(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"), nullable=True)

    @declared_attr
    def changed_by_fk(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"), nullable=True)

    @declared_attr
    def created_by(cls) -> Mapped[CrmUser | None]:
        return relationship(CrmUser, foreign_keys=lambda: [cls.created_by_fk], lazy="select")

    @declared_attr
    def changed_by(cls) -> Mapped[CrmUser | None]:
        return relationship(CrmUser, foreign_keys=lambda: [cls.changed_by_fk], lazy="select")


@event.listens_for(Session, "before_flush")
def _stamp(session: Session, _flush_context, _instances) -> None:
    user_id = acting_user_id()
    now = utcnow()
    for obj in session.new:
        if isinstance(obj, StampedMixin):
            obj.created_on = obj.created_on or now
            obj.changed_on = now
            obj.created_by_fk = obj.created_by_fk or user_id
            obj.changed_by_fk = user_id or obj.created_by_fk
    for obj in session.dirty:
        if isinstance(obj, StampedMixin) and session.is_modified(obj, include_collections=False):
            obj.changed_on = now
            obj.changed_by_fk = user_id
