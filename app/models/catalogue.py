"""The equipment catalogue: every type / name / sub-name / capacity the requests have used."""

from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

CATALOGUE_FIELDS = ("equipment_type", "name", "subname", "capacity")


class CatalogueEntry(Model):
    __tablename__ = "equipment_catalogue"
    __table_args__ = (UniqueConstraint("equipment_type", "name", "subname", "capacity", name="uq_catalogue_entry"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Empty strings rather than NULL, so that the unique constraint holds for partial entries.
    equipment_type: Mapped[str] = mapped_column(String(255), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    subname: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    capacity: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    times_used: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

    def __str__(self) -> str:
        return " / ".join(p for p in (self.equipment_type, self.name, self.subname, self.capacity) if p)
