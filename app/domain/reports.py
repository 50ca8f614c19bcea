"""Figures for the head of sales, computed by SQL aggregates from the access policy's selects.

The period is a cohort: the requests *received* in it (by request date), and what became of them —
won («Заказ выполнен»), lost («Dead»), conversion, won sums by currency, average days from the
request to its win. "Now" figures (by status, stalled) cover every visible request whatever its
date. Each figure carries the list arguments that show the requests behind it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask_appbuilder.models.filters import BaseFilter
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from app import access
from app.domain import activity
from app.models.requests import Request, RequestStatus, StatusChange
from app.models.users import CrmUser

WON, LOST = RequestStatus.COMPLETED.value, RequestStatus.DEAD.value


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive

    def list_args(self) -> dict[str, str]:
        return {"received_from": self.start.isoformat(), "received_to": self.end.isoformat()}


@dataclass
class Figures:
    """One row of the report: the whole department, or one manager."""

    received: int = 0
    won: int = 0
    lost: int = 0
    won_sums: dict[str, Decimal] = field(default_factory=dict)
    average_days_to_win: float | None = None
    stalled_now: int = 0

    @property
    def conversion(self) -> float | None:
        """Won of received, in per cent."""
        return round(100.0 * self.won / self.received, 1) if self.received else None


@dataclass
class Report:
    period: Period
    manager: CrmUser | None
    total: Figures
    by_manager: list[tuple[CrmUser | None, Figures]]
    by_status_now: dict[str, int]
    by_month: list[tuple[str, int, int]]  # (YYYY-MM, received, won)


def _scope(user: CrmUser, manager: CrmUser | None) -> Select:
    query = access.visible_requests(user)
    return query if manager is None else query.where(Request.responsible_id == manager.id)


def _in_period(period: Period) -> ColumnElement[bool]:
    return Request.request_date.between(period.start, period.end)


def _days_between(session: Session, later: Any, earlier: Any) -> ColumnElement:
    """Days from a date to a timestamp, as the database counts them."""
    if session.get_bind().dialect.name == "sqlite":
        return func.julianday(later) - func.julianday(earlier)
    return func.extract("epoch", later - func.cast(earlier, later.type)) / 86400.0


def _month(session: Session, column: Any) -> ColumnElement:
    if session.get_bind().dialect.name == "sqlite":
        return func.strftime("%Y-%m", column)
    return func.to_char(column, "YYYY-MM")


def compute(
    session: Session, user: CrmUser, period: Period, manager: CrmUser | None = None, now: datetime | None = None
) -> Report:
    scope = _scope(user, manager).where(_in_period(period)).subquery()
    req = scope.c
    won_on = (
        select(StatusChange.request_id, func.max(StatusChange.changed_on).label("won_on"))
        .where(StatusChange.new_value == WON)
        .group_by(StatusChange.request_id)
        .subquery()
    )
    counts = (
        select(
            req.responsible_id,
            func.count(),
            func.count(case((req.status == WON, 1))),
            func.count(case((req.status == LOST, 1))),
            func.avg(case((req.status == WON, _days_between(session, won_on.c.won_on, req.request_date)))),
        )
        .select_from(scope)
        .outerjoin(won_on, won_on.c.request_id == req.id)
        .group_by(req.responsible_id)
    )
    sums = (
        select(req.responsible_id, req.currency, func.sum(req.contract_price))
        .where(req.status == WON, req.contract_price.is_not(None))
        .group_by(req.responsible_id, req.currency)
    )
    stalled_query = (
        _scope(user, manager)
        .where(activity.stalled_clause(now))
        .with_only_columns(Request.responsible_id, func.count())
        .group_by(Request.responsible_id)
    )
    rows: dict[int | None, Figures] = {}
    for responsible_id, received, won, lost, days in session.execute(counts):
        rows[responsible_id] = Figures(received, won, lost, average_days_to_win=_days(days))
    for responsible_id, currency, total in session.execute(sums):
        rows.setdefault(responsible_id, Figures()).won_sums[currency] = Decimal(total)
    for responsible_id, stalled in session.execute(stalled_query):
        rows.setdefault(responsible_id, Figures()).stalled_now = stalled

    by_status = dict(
        session.execute(
            _scope(user, manager).with_only_columns(Request.status, func.count()).group_by(Request.status)
        ).all()
    )
    month = _month(session, req.request_date)
    by_month = [
        (label, received, won)
        for label, received, won in session.execute(
            select(month, func.count(), func.count(case((req.status == WON, 1)))).group_by(month).order_by(month)
        )
    ]
    return Report(
        period=period,
        manager=manager,
        total=_total(rows.values()),
        by_manager=_with_users(session, rows),
        by_status_now={status.value: by_status.get(status.value, 0) for status in RequestStatus},
        by_month=by_month,
    )


def _days(value: Any) -> float | None:
    return round(float(value), 1) if value is not None else None


def _total(rows) -> Figures:
    """The department's line: sums of the managers' lines; its average is weighted by their wins."""
    total = Figures()
    weighted = 0.0
    for figures in rows:
        total.received += figures.received
        total.won += figures.won
        total.lost += figures.lost
        total.stalled_now += figures.stalled_now
        for currency, amount in figures.won_sums.items():
            total.won_sums[currency] = total.won_sums.get(currency, Decimal(0)) + amount
        if figures.average_days_to_win is not None:
            weighted += figures.average_days_to_win * figures.won
    total.average_days_to_win = round(weighted / total.won, 1) if total.won else None
    return total


def _with_users(session: Session, rows: dict[int | None, Figures]) -> list[tuple[CrmUser | None, Figures]]:
    ids = [user_id for user_id in rows if user_id is not None]
    users = {u.id: u for u in session.scalars(select(CrmUser).where(CrmUser.id.in_(ids)))} if ids else {}
    ordered = sorted(rows.items(), key=lambda item: (-item[1].received, item[0] or 0))
    return [(users.get(user_id) if user_id is not None else None, figures) for user_id, figures in ordered]


class ReceivedFrom(BaseFilter):
    """`?received_from=YYYY-MM-DD` on the requests list: a report's figure clicked through."""

    name = _l("Received from")
    arg_name = "received_from"

    def apply(self, query: Any, value: Any) -> Any:
        try:
            return query.filter(Request.request_date >= date.fromisoformat(str(value)))
        except ValueError:
            return query


class ReceivedTo(BaseFilter):
    name = _l("Received until")
    arg_name = "received_to"

    def apply(self, query: Any, value: Any) -> Any:
        try:
            return query.filter(Request.request_date <= date.fromisoformat(str(value)))
        except ValueError:
            return query
