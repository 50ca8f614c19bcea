"""Figures for the head of sales, computed by SQL aggregates from the access policy's selects.

"Who won what this quarter": a request counts as *received* in the period of its request date, as
*won* («Заказ выполнен») or *lost* («Dead») in the period of the day (in the user's time zone) it
reached that status, if it still has it; the won sums and the days from request to win follow the
win. The conversion is the cohort's: of the requests received in the period, how many are won by
now, so it never exceeds 100 %. "Now" figures (by status, stalled) cover every visible request
whatever its date. Each figure carries the list arguments that show the requests behind it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask_appbuilder.models.filters import BaseFilter
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from app import access
from app.domain import activity
from app.domain import reminders as reminder_domain
from app.models.requests import Request, RequestStatus, StatusChange
from app.models.users import CrmUser

WON, LOST = RequestStatus.COMPLETED.value, RequestStatus.DEAD.value
CLOSED = (WON, LOST)


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive

    def list_args(self) -> dict[str, str]:
        """The requests list of those received in the period."""
        return {"received_from": self.start.isoformat(), "received_to": self.end.isoformat()}

    def closed_args(self, status: str) -> dict[str, str]:
        """The requests list of those won (or lost) in the period."""
        return {"closed_from": self.start.isoformat(), "closed_to": self.end.isoformat(), "status": status}

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """The period as UTC instants, from its first day's midnight to the midnight after its last."""
        return _midnight(self.start, zone), _midnight(self.end + timedelta(days=1), zone)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=zone).astimezone(UTC)


@dataclass
class Figures:
    """One row of the report: the whole department, or one manager."""

    received: int = 0
    won: int = 0  # won in the period, whenever received
    lost: int = 0  # lost in the period, whenever received
    won_sums: dict[str, Decimal] = field(default_factory=dict)
    average_days_to_win: float | None = None
    stalled_now: int = 0
    won_of_received: int = 0  # of those received in the period, won by now

    @property
    def conversion(self) -> float | None:
        """Won of the requests received in the period, in per cent (a won count of the period over
        the received one could pass 100 % for a short period)."""
        return round(100.0 * self.won_of_received / self.received, 1) if self.received else None


@dataclass
class Report:
    period: Period
    manager: CrmUser | None
    total: Figures
    by_manager: list[tuple[CrmUser | None, Figures]]
    by_status_now: dict[str, int]
    by_month: list[tuple[str, int, int]]  # (YYYY-MM, received in the month, won in the month)


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


def _local_month(session: Session, moment: Any, zone: ZoneInfo, near: datetime) -> ColumnElement:
    """The month of a stored UTC time on the user's calendar. SQLite knows no zones: it shifts by
    the zone's offset at `near` (exact for zones without daylight saving, as Moscow's)."""
    if session.get_bind().dialect.name == "sqlite":
        minutes = int(near.astimezone(zone).utcoffset().total_seconds() // 60)
        return func.strftime("%Y-%m", moment, f"{minutes:+d} minutes")
    return func.to_char(func.timezone(zone.key, moment), "YYYY-MM")


def closings(since: datetime):
    """When each request last reached a closing status, as far as that was `since` or later.

    Only the latest line into the request's *current* status names its closing: joined on status,
    a request reopened since is closed nowhere. Lines before `since` cannot be the latest one of a
    closing inside the period, so they are not read.
    """
    return (
        select(
            StatusChange.request_id,
            StatusChange.new_value.label("status"),
            func.max(StatusChange.changed_on).label("closed_on"),
        )
        .where(StatusChange.new_value.in_(CLOSED), StatusChange.changed_on >= since)
        .group_by(StatusChange.request_id, StatusChange.new_value)
        .subquery()
    )


def closed_in_clause(start: datetime | None, end: datetime | None) -> ColumnElement[bool]:
    """For the requests list (`?closed_from=&closed_to=`): closed, last into its status in [start, end)."""
    closed_on = (
        select(func.max(StatusChange.changed_on))
        .where(StatusChange.request_id == Request.id, StatusChange.new_value == Request.status)
        .scalar_subquery()
    )
    bounds = [closed_on >= start] if start is not None else []
    bounds += [closed_on < end] if end is not None else []
    return and_(Request.status.in_(CLOSED), *bounds)


def compute(
    session: Session, user: CrmUser, period: Period, manager: CrmUser | None = None, now: datetime | None = None
) -> Report:
    zone = reminder_domain.user_zone(user)
    start, end = period.bounds(zone)
    scope = _scope(user, manager).subquery()
    req = scope.c
    closing = closings(start)
    received = req.request_date.between(period.start, period.end)
    closed = and_(closing.c.closed_on.is_not(None), closing.c.closed_on < end)
    won, lost = and_(closed, req.status == WON), and_(closed, req.status == LOST)
    # Received in the period, or closed in it: one pass over both, joined to the closings.
    in_period = (
        select(req.id, req.responsible_id, req.request_date, req.status, req.currency, req.contract_price)
        .add_columns(closing.c.closed_on)
        .select_from(scope)
        .outerjoin(closing, and_(closing.c.request_id == req.id, closing.c.status == req.status))
    )
    # One pass over the period's requests and their closings gives every figure but the stalled
    # ones: grouped by manager, currency and the months of receipt and win (a few hundred groups),
    # then summed here. Three statements each joined the closings again (two thirds of the time).
    days = _days_between(session, closing.c.closed_on, req.request_date)
    received_month = case((received, _month(session, req.request_date)))
    won_month = case((won, _local_month(session, closing.c.closed_on, zone, start)))
    groups = (
        in_period.with_only_columns(
            req.responsible_id,
            req.currency,
            received_month.label("received_month"),
            won_month.label("won_month"),
            func.count(case((received, 1))),
            func.count(case((won, 1))),
            func.count(case((lost, 1))),
            func.sum(case((won, days))),
            func.count(case((won, days))),
            func.count(case((and_(received, req.status == WON), 1))),
            func.sum(case((won, req.contract_price))),
        )
        .where(or_(received, closed))
        # By the labels: PostgreSQL would not match the CASEs' own bound dates to the select's.
        .group_by(req.responsible_id, req.currency, "received_month", "won_month")
    )
    stalled_query = (
        _scope(user, manager)
        .where(activity.stalled_clause(now))
        .with_only_columns(Request.responsible_id, func.count())
        .group_by(Request.responsible_id)
    )
    rows: dict[int | None, Figures] = {}
    day_totals: dict[int | None, list[float]] = {}
    received_by_month: dict[str, int] = {}
    won_by_month: dict[str, int] = {}
    for (
        responsible_id,
        currency,
        month_received,
        month_won,
        n_received,
        n_won,
        n_lost,
        sum_days,
        n_days,
        won_of_received,
        won_sum,
    ) in session.execute(groups):
        figures = rows.setdefault(responsible_id, Figures())
        figures.received += n_received
        figures.won += n_won
        figures.lost += n_lost
        figures.won_of_received += won_of_received
        if won_sum is not None:
            figures.won_sums[currency] = figures.won_sums.get(currency, Decimal(0)) + Decimal(won_sum)
        if n_days:
            totals = day_totals.setdefault(responsible_id, [0.0, 0])
            totals[0] += float(sum_days)
            totals[1] += n_days
        if month_received is not None:
            received_by_month[month_received] = received_by_month.get(month_received, 0) + n_received
        if month_won is not None:
            won_by_month[month_won] = won_by_month.get(month_won, 0) + n_won
    for responsible_id, (sum_days, n_days) in day_totals.items():
        rows[responsible_id].average_days_to_win = _days(sum_days / n_days)
    for responsible_id, stalled in session.execute(stalled_query):
        rows.setdefault(responsible_id, Figures()).stalled_now = stalled

    by_status = dict(
        session.execute(
            _scope(user, manager).with_only_columns(Request.status, func.count()).group_by(Request.status)
        ).all()
    )
    by_month = [
        (month, received_by_month.get(month, 0), won_by_month.get(month, 0))
        for month in sorted(received_by_month.keys() | won_by_month.keys())
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
        total.won_of_received += figures.won_of_received
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


def _day_arg(value: Any, days_after: int = 0) -> datetime | None:
    """A list argument's day (or the one `days_after` it) as the UTC instant of its midnight in the
    user's zone."""
    from app.formatting import user_timezone

    try:
        return _midnight(date.fromisoformat(str(value)) + timedelta(days=days_after), user_timezone())
    except ValueError:
        return None


class ClosedFrom(BaseFilter):
    """`?closed_from=YYYY-MM-DD` (with `status=completed|dead`): won or lost since that day."""

    name = _l("Closed from")
    arg_name = "closed_from"

    def apply(self, query: Any, value: Any) -> Any:
        start = _day_arg(value)
        return query if start is None else query.filter(closed_in_clause(start, None))


class ClosedTo(BaseFilter):
    name = _l("Closed until")
    arg_name = "closed_to"

    def apply(self, query: Any, value: Any) -> Any:
        end = _day_arg(value, days_after=1)
        return query if end is None else query.filter(closed_in_clause(None, end))


class WithoutResponsible(BaseFilter):
    """`?unassigned=1`: the report's «Без ответственного» row clicked through."""

    name = _l("Without a responsible")
    arg_name = "unassigned"

    def apply(self, query: Any, value: Any) -> Any:
        return query.filter(Request.responsible_id.is_(None)) if str(value) == "1" else query
