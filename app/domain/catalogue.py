"""The self-growing equipment catalogue: remembered from saved items, offered back as suggestions."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.models.catalogue import CATALOGUE_FIELDS, CatalogueEntry
from app.models.requests import RequestItem

SUGGESTION_LIMIT = 15


def _key(item: RequestItem) -> tuple[str, str, str, str]:
    return tuple((getattr(item, field) or "").strip() for field in CATALOGUE_FIELDS)  # type: ignore[return-value]


def remember_items(session: Session, items: Iterable[RequestItem]) -> None:
    """Add each new type / name / sub-name / capacity to the catalogue; count the known ones."""
    keys = {_key(item) for item in items if (item.equipment_type or "").strip()}
    for key in keys:
        conditions = [
            getattr(CatalogueEntry, field) == value for field, value in zip(CATALOGUE_FIELDS, key, strict=True)
        ]
        with session.no_autoflush:
            existing = session.execute(select(CatalogueEntry.id).where(*conditions)).scalar_one_or_none()
        if existing is None:
            session.add(CatalogueEntry(**dict(zip(CATALOGUE_FIELDS, key, strict=True)), times_used=1))
        else:
            session.execute(
                update(CatalogueEntry)
                .where(CatalogueEntry.id == existing)
                .values(times_used=CatalogueEntry.times_used + 1)
            )


def suggest(session: Session, field: str, typed: str = "", **earlier_fields: str) -> list[str]:
    """Known values of `field` containing what was typed, narrowed by the fields before it.

    After type "Система очистки" the names offered are only those seen with that type, and so on.
    """
    if field not in CATALOGUE_FIELDS:
        raise ValueError(field)
    column = getattr(CatalogueEntry, field)
    query = select(column).where(column != "")
    for earlier in CATALOGUE_FIELDS[: CATALOGUE_FIELDS.index(field)]:
        value = (earlier_fields.get(earlier) or "").strip()
        if value:
            query = query.where(func.lower(getattr(CatalogueEntry, earlier)) == value.casefold())
    typed = typed.strip()
    if typed:
        escaped = typed.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(column.ilike(f"%{escaped}%", escape="\\"))
    query = query.group_by(column).order_by(func.sum(CatalogueEntry.times_used).desc(), column).limit(SUGGESTION_LIMIT)
    return list(session.execute(query).scalars())
