"""When each user last opened the start page: «new since your last visit» starts there."""

from __future__ import annotations

from datetime import datetime

from flask_appbuilder import Model
from sqlalchemy import DateTime, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column


class StartPageVisit(Model):
    __tablename__ = "start_page_visit"

    user_id: Mapped[int] = mapped_column(ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True)
    # The visit before the current one: what is newer than this is "new" on the current visit.
    previous_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
