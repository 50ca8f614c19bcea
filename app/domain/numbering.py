"""Request numbers: readable (2026-0042), unique, never reused, safe under concurrent creation."""

from __future__ import annotations

from datetime import date

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models.requests import RequestNumberCounter


def next_request_number(session: Session, on: date | None = None) -> str:
    """Take the next number of the year inside the caller's transaction.

    The UPDATE locks the year's counter row until the transaction ends, so two managers saving
    at the same instant get consecutive numbers; a rolled-back request leaves a gap, never a reuse.
    """
    year = (on or date.today()).year
    increment = (
        update(RequestNumberCounter)
        .where(RequestNumberCounter.year == year)
        .values(last_value=RequestNumberCounter.last_value + 1)
        .returning(RequestNumberCounter.last_value)
    )
    value = session.execute(increment).scalar_one_or_none()
    if value is None:
        try:
            with session.begin_nested():
                session.execute(insert(RequestNumberCounter).values(year=year, last_value=0))
        except IntegrityError:
            pass  # another transaction created the year's row first; its lock orders us after it
        value = session.execute(increment).scalar_one()
    return f"{year}-{value:04d}"
