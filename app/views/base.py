"""What the project's list views share: filters driven by plain URL parameters."""

from __future__ import annotations

from typing import ClassVar

from flask import has_request_context, request
from flask_appbuilder.models.filters import BaseFilter, Filters


class UrlParamFiltersMixin:
    """Adds filters from URL parameters (e.g. `?q=` quick search) to the list query.

    The access policy's base filters always stay first; the parameters only narrow them.
    """

    url_param_filters: ClassVar[dict[str, tuple[str, type[BaseFilter]]]] = {}

    @property
    def _base_filters(self) -> Filters:
        filters = self._policy_filters
        if not has_request_context() or not request.endpoint or not request.endpoint.endswith(".list"):
            return filters
        for param, (column, filter_class) in self.url_param_filters.items():
            value = request.args.get(param, "").strip()
            if value:
                filters = filters.copy().add_filter(column, filter_class, value)
        return filters

    @_base_filters.setter
    def _base_filters(self, filters: Filters) -> None:
        self._policy_filters = filters
