"""The CRM's user: FAB's user plus which records he may see and his time zone."""

from __future__ import annotations

import enum

from flask_appbuilder.security.sqla.models import User
from flask_babel import lazy_gettext as _l
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column


class RecordScope(enum.StrEnum):
    ALL = "all"
    OWN = "own"


SCOPE_LABELS = {
    RecordScope.ALL: _l("All records"),
    RecordScope.OWN: _l("Only records where he is responsible"),
}


class CrmUser(User):
    __tablename__ = "ab_user"
    __table_args__ = {"extend_existing": True}

    # New accounts see only their own records until the administrator decides otherwise.
    record_scope: Mapped[str] = mapped_column(
        String(8), nullable=False, default=RecordScope.OWN, server_default=RecordScope.OWN
    )
    timezone: Mapped[str | None] = mapped_column(String(64))
