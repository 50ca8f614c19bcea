"""Quick search: one box that finds an organisation by any of its or its contacts' fields."""

from __future__ import annotations

from typing import Any

from flask_appbuilder.models.filters import BaseFilter
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from app.models.clients import Organization
from app.normalize import phone_digits

_PHONE_CHARS = set("0123456789+()- .")


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def quick_search_clause(term: str) -> ColumnElement[bool] | None:
    """Match every word of the term in the organisation's search text; a phone-like term also by its digits."""
    term = " ".join(term.split()).casefold()
    if not term:
        return None
    column = Organization.search_text
    # Every word, anywhere: «Ромашка Казань» finds the company whose name and city hold them.
    conditions = [and_(*(column.like(_like_pattern(word), escape="\\") for word in term.split()))]
    digits = phone_digits(term)
    if len(digits) >= 5 and set(term) <= _PHONE_CHARS:
        # A Russian number typed with its leading 8 or 7 is the same number as its last ten digits.
        if len(digits) == 11 and digits[0] in "78":
            digits = digits[1:]
        conditions.append(column.like(_like_pattern(digits), escape="\\"))
    return or_(*conditions)


class QuickSearchFilter(BaseFilter):
    name = _l("Contains anywhere")
    arg_name = "qs"

    def apply(self, query: Any, value: Any) -> Any:
        clause = quick_search_clause(str(value or ""))
        return query if clause is None else query.filter(clause)


class HasRequestWithStatus(BaseFilter):
    """Organisations with at least one request in the given status ("who is stalled?")."""

    name = _l("Has a request with status")
    arg_name = "req_status"

    def apply(self, query: Any, value: Any) -> Any:
        from app import access
        from app.models.requests import Request

        # Only through requests the user may see: a colleague's dead request must not list his client.
        requests = select(Request.organization_id).where(Request.status == str(value))
        visible = access.request_clause(access.current_user())
        if visible is not None:
            requests = requests.where(visible)
        return query.filter(Organization.id.in_(requests))


class RequestQuickSearchFilter(BaseFilter):
    """A request by its number, any part of its equipment, or its customer's name."""

    name = _l("Contains anywhere")
    arg_name = "rqs"

    def apply(self, query: Any, value: Any) -> Any:
        from app.models.requests import Request

        words = str(value or "").casefold().split()
        if not words:
            return query
        # Every word must be found, each in any field: «OUUT X2-200» finds the item
        # «Система очистки / OUUT / X2-200», whose words sit in different fields.
        conditions = []
        for word in words:
            pattern = _like_pattern(word)
            customers = select(Organization.id).where(Organization.search_text.like(pattern, escape="\\"))
            conditions.append(
                or_(
                    func.lower(Request.number).like(pattern, escape="\\"),
                    func.lower(Request.equipment_text).like(pattern, escape="\\"),
                    Request.organization_id.in_(customers),
                )
            )
        return query.filter(and_(*conditions))


class ValueEquals(BaseFilter):
    """Exact match on a coded column (status, delivery status) from a link."""

    name = _l("Equal to")
    arg_name = "veq"

    def apply(self, query: Any, value: Any) -> Any:
        return query.filter(self.model.__table__.c[self.column_name] == str(value))
