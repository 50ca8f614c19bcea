"""A connected desktop Agent: one row per computer, holding only a hash of its token."""

from __future__ import annotations

from datetime import datetime

from flask_appbuilder import Model
from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.stamps import utcnow
from app.models.users import CrmUser


class AgentDevice(Model):
    """A per-device token: it reads the event feed and the notification settings, nothing else.

    ``account`` is the account fingerprint (app/auth.py) when the token was issued: a password
    change, a reset or a deactivation changes the fingerprint and so disconnects every device.
    """

    __tablename__ = "agent_device"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False, index=True)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    account: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    agent_version: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    created_on: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    last_seen_on: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_on: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[CrmUser] = relationship(CrmUser)
