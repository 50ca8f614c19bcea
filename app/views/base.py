"""What the project's views share: URL-parameter filters and FAB's side doors closed."""

from __future__ import annotations

from typing import ClassVar

from flask import abort, flash, g, has_request_context, redirect, render_template, request, url_for
from flask_appbuilder import ModelView, expose, has_access, permission_name
from flask_appbuilder.models.filters import BaseFilter, Filters
from flask_appbuilder.urltools import get_filter_args
from markupsafe import Markup, escape

from app.auth import safe_redirect_target


class UrlParamFiltersMixin:
    """Adds filters from URL parameters (e.g. `?q=` quick search) to the list query.

    The access policy's base filters always stay first; the parameters only narrow them.
    """

    url_param_filters: ClassVar[dict[str, tuple[str, type[BaseFilter]]]] = {}

    @property
    def _base_filters(self) -> Filters:
        filters = self._policy_filters
        # The export writes what the list shows, so it gets the same filters.
        if not has_request_context() or not request.endpoint or not request.endpoint.endswith((".list", ".export")):
            return filters
        for param, (column, filter_class) in self.url_param_filters.items():
            value = request.args.get(param, "").strip()
            if value:
                filters = filters.copy().add_filter(column, filter_class, value)
        return filters

    @_base_filters.setter
    def _base_filters(self, filters: Filters) -> None:
        self._policy_filters = filters


class ResponsibleDefaultMixin:
    """A new record's form offers the current user as its responsible manager."""

    def _get_add_widget(self, form, exclude_cols=None, widgets=None):
        if request.method == "GET" and "responsible" in form and form.responsible.data is None:
            form.responsible.data = g.user
        return super()._get_add_widget(form, exclude_cols=exclude_cols, widgets=widgets)


class CrmModelView(ModelView):
    """FAB's ModelView with its side doors closed.

    FAB's actions fetch records by id without the view's base filters, and its file download
    route serves any stored file to anyone with the view permission. Here actions see only
    what the access policy lets the list see, and documents are served by RequestView.download.
    """

    @expose("/download/<string:filename>")
    @has_access
    def download(self, filename: str):
        abort(404)

    @expose("/search_panel/")
    @has_access
    @permission_name("list")
    def search_panel(self) -> str:
        """The list's search form with the page's active filters, fetched when its panel is opened."""
        get_filter_args(self._filters)
        return super()._get_search_widget(form=self.search_form.refresh())["search"]()

    def _get_search_widget(self, form=None, exclude_cols=None, widgets=None) -> dict:
        """A placeholder in the folded search panel. FAB's form, with every filter's operators and
        the choices of related fields, costs a quarter of a list page that rarely opens it."""
        widgets = widgets or {}
        url = url_for(f"{self.endpoint}.search_panel")
        if request.query_string:
            url = f"{url}?{request.query_string.decode()}"
        widgets["search"] = lambda: Markup(render_template("crm/_search_panel.html", url=url))
        return widgets

    def write_refusal(self, item) -> str | None:
        """Why the user may not change this record he can see (None: he may); the access policy
        decides, a view only names the rule that applies to its records."""
        return None

    def _visible_or_404(self, pk: str):
        if not (pk.isascii() and pk.isdigit()) or int(pk) >= 2**63:
            abort(404)
        item = self.datamodel.get(int(pk), self._base_filters)
        if item is None:
            abort(404)
        return item

    def _refused_write(self, pk: str):
        """A record out of reach answers 404 (a GET delete included, where FAB answered 302); one he
        sees but may not change returns to its page with the reason."""
        item = self._visible_or_404(pk)
        message = self.write_refusal(item)
        if message is None:
            return None
        flash(message, "danger")
        return redirect(url_for(f"{self.endpoint}.show", pk=item.id))

    @expose("/edit/<pk>", methods=["GET", "POST"])
    @has_access
    def edit(self, pk: str):
        return self._refused_write(pk) or super().edit(pk)

    def delete_refusal(self, item) -> str | None:
        """Why this record may not be deleted by anyone (records depend on it), or None."""
        return None

    @expose("/delete/<pk>", methods=["GET", "POST"])
    @has_access
    def delete(self, pk: str):
        """Refused: back to the page the user clicked on (list or record) with the reason."""
        item = self._visible_or_404(pk)
        message = self.write_refusal(item) or self.delete_refusal(item)
        if message is not None:
            flash(message, "danger")
            return redirect(safe_redirect_target(request.referrer, url_for(f"{self.endpoint}.show", pk=item.id)))
        return super().delete(pk)

    def _check_action(self, name: str) -> None:
        if name not in self.actions:
            abort(404)
        if not self.appbuilder.sm.has_access(self.get_action_permission_name(name), self.class_permission_name):
            abort(403)

    @expose("/action/<string:name>/<pk>", methods=["GET", "POST"])
    def action(self, name: str, pk: str):
        self._check_action(name)
        if not self.is_get_mutation_allowed():
            abort(400)
        item = self.datamodel.get(self._deserialize_pk_if_composite(pk), self._base_filters)
        if item is None:
            abort(404)
        return self._refused_action([item]) or self.actions[name].func(item)

    @expose("/action_post", methods=["POST"])
    def action_post(self):
        name = request.form.get("action", "")
        self._check_action(name)
        items = [
            self.datamodel.get(self._deserialize_pk_if_composite(pk), self._base_filters)
            for pk in request.form.getlist("rowid")
        ]
        if not items or any(item is None for item in items):
            abort(404)
        return self._refused_action(items) or self.actions[name].func(items)

    def _refused_action(self, items: list):
        """An action (bulk or not) on records the user sees but may not change does nothing."""
        for item in items:
            message = self.write_refusal(item)
            if message is not None:
                flash(message, "danger")
                return redirect(url_for(f"{self.endpoint}.list"))
        return None


def customer_link(organization) -> Markup:
    """The customer's name; a click opens the company's card in a popup."""
    if organization is None:
        return Markup("")
    card_url = escape(url_for("OrganizationView.card", pk=organization.id))
    return Markup(f'<a href="#" class="crm-card-link" data-card-url="{card_url}">{escape(organization.name)}</a>')


class RowUrl:
    """A link every row of a list repeats, routed once per page: url_for costs more than the rest
    of a row's cell, and a 25-row list asks for some two hundred links."""

    _MARK = 7_770_000_000_000_077  # a number, for routes with an <int:pk>; no record has such an id

    def __init__(self, endpoint: str, pk_argument: str = "pk", **values: object) -> None:
        url = url_for(endpoint, **{pk_argument: self._MARK}, **values)
        self.head, _, self.tail = url.partition(str(self._MARK))

    def __call__(self, pk: object) -> str:
        return f"{self.head}{int(pk)}{self.tail}"


def register_template_globals(app) -> None:
    app.add_template_global(RowUrl, "row_url")
