"""The department's settings the administrator changes in the product (one row, id 1)."""

from __future__ import annotations

from datetime import datetime

from flask_appbuilder import Model
from sqlalchemy import Boolean, DateTime, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column


class DepartmentSettings(Model):
    """Until the row exists, the environment's defaults apply (STALLED_AFTER_DAYS, ...)."""

    __tablename__ = "department_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    stalled_after_days: Mapped[int] = mapped_column(Integer, nullable=False)
    stalled_radar_reminders: Mapped[bool] = mapped_column(Boolean, nullable=False)
    changed_on: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
