"""«Воронка»: the requests as cards in their five status columns.

The board reads `access.visible_requests()` only; a dropped card posts to the request card's own
status change (RequestView.change_status: comment required, history and Agent event), so there is
no second way to change a status. Each column loads one page of cards; «Показать ещё» the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from flask import abort, g, request
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import gettext as _
from sqlalchemy import Select, func, select

from app import access
from app.domain.activity import days_quiet, is_stalled
from app.extensions import db
from app.models.clients import Organization
from app.models.requests import STATUS_LABELS, Request, RequestStatus
from app.models.users import CrmUser
from app.search import RequestQuickSearchFilter, quick_search_clause

CARDS_PER_PAGE = 20


@dataclass
class BoardFilters:
    """What the board's filter bar narrows the visible requests to."""

    responsible: int | None = None
    customer: str = ""
    date_from: date | None = None
    date_to: date | None = None
    text: str = ""

    @classmethod
    def from_args(cls, args) -> BoardFilters:
        def day(name: str) -> date | None:
            try:
                return date.fromisoformat(args.get(name, ""))
            except ValueError:
                return None

        responsible = args.get("responsible", "")
        return cls(
            responsible=int(responsible) if responsible.isdigit() else None,
            customer=" ".join(args.get("customer", "").split())[:200],
            date_from=day("from"),
            date_to=day("to"),
            text=" ".join(args.get("q", "").split())[:200],
        )

    def as_args(self) -> dict[str, str]:
        values = {
            "responsible": str(self.responsible) if self.responsible else "",
            "customer": self.customer,
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "",
            "q": self.text,
        }
        return {key: value for key, value in values.items() if value}


def board_requests(user: CrmUser, filters: BoardFilters) -> Select:
    """The visible requests, narrowed by the filter bar."""
    query = access.visible_requests(user)
    if filters.responsible:
        query = query.where(Request.responsible_id == filters.responsible)
    if filters.customer and (clause := quick_search_clause(filters.customer)) is not None:
        query = query.where(Request.organization_id.in_(select(Organization.id).where(clause)))
    if filters.date_from:
        query = query.where(Request.request_date >= filters.date_from)
    if filters.date_to:
        query = query.where(Request.request_date <= filters.date_to)
    if filters.text:
        query = RequestQuickSearchFilter("number", SQLAInterface(Request)).apply(query, filters.text)
    return query


def column_totals(query: Select) -> dict[str, dict]:
    """Per status: the number of requests and the sum of contract prices by currency (one query)."""
    totals: dict[str, dict] = {s.value: {"count": 0, "sums": {}} for s in RequestStatus}
    grouped = query.with_only_columns(
        Request.status, Request.currency, func.count(Request.id), func.sum(Request.contract_price)
    ).group_by(Request.status, Request.currency)
    for status, currency, count, total in db.session.execute(grouped.order_by(None)):
        if status not in totals:
            continue
        totals[status]["count"] += count
        if total is not None:
            totals[status]["sums"][currency] = Decimal(total)
    return totals


def column_page(query: Select, status: str, offset: int) -> list[Request]:
    """One page of a column's cards, newest first (read from the status/id index)."""
    page = query.where(Request.status == status).order_by(Request.id.desc()).offset(offset).limit(CARDS_PER_PAGE)
    return list(db.session.scalars(page).unique())


class BoardView(BaseView):
    route_base = "/board"
    default_view = "index"

    def _context(self) -> tuple[BoardFilters, Select]:
        filters = BoardFilters.from_args(request.args)
        return filters, board_requests(g.user, filters)

    @expose("/")
    @has_access
    def index(self):
        filters, query = self._context()
        totals = column_totals(query)
        columns = [
            {
                "status": status.value,
                "label": STATUS_LABELS[status],
                "cards": column_page(query, status.value, 0),
                "count": totals[status.value]["count"],
                "sums": totals[status.value]["sums"],
            }
            for status in RequestStatus
        ]
        managers: list[CrmUser] = []
        if access.sees_everything(g.user):
            managers = list(db.session.scalars(select(CrmUser).where(CrmUser.active.is_(True)).order_by(CrmUser.id)))
        return self.render_template(
            "crm/board.html",
            title=_("Board"),
            columns=columns,
            filters=filters,
            filter_args=filters.as_args(),
            managers=managers,
            page_size=CARDS_PER_PAGE,
            card_helpers={"days_quiet": days_quiet, "is_stalled": is_stalled},
            statuses=STATUS_LABELS,
        )

    @expose("/column/<status>")
    @has_access
    def column(self, status: str):
        """«Показать ещё»: the next page of one column's cards, as HTML to append."""
        if status not in RequestStatus.__members__.values():
            abort(404)
        _, query = self._context()
        offset = max(request.args.get("offset", 0, type=int), 0)
        return self.render_template(
            "crm/_board_cards.html",
            cards=column_page(query, status, offset),
            card_helpers={"days_quiet": days_quiet, "is_stalled": is_stalled},
            statuses=STATUS_LABELS,
        )
