"""What the project's views share: URL-parameter filters and FAB's side doors closed."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

from flask import abort, flash, g, has_request_context, redirect, render_template, request, url_for
from flask_appbuilder import ModelView, expose, has_access, permission_name
from flask_appbuilder.exceptions import DatabaseException, FABException
from flask_appbuilder.models.filters import BaseFilter, Filters
from flask_appbuilder.urltools import get_filter_args, get_order_args, get_page_args, get_page_size_args
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape
from sqlalchemy.exc import SQLAlchemyError

from app.access import WriteRefused
from app.auth import safe_redirect_target
from app.errors import MAX_PAGE, HostileInput, check_filter_values, database_refusal, reference_id
from app.extensions import db
from app.validation import Refused, parse_money_filters

log = logging.getLogger(__name__)
MAX_PAGE_SIZE = 1_000


@contextmanager
def refused_list_arguments() -> Iterator[None]:
    """Hand-edited `_flt_`, `_oc_`, `page_`, `psize_` arguments that FAB or the database cannot
    use (a filter index that does not exist, text for a number, a negative page) become a 400 page
    that says so, not a 500. The details go to the log under a reference id."""
    try:
        yield
    except HostileInput:
        raise
    except (FABException, SQLAlchemyError, ValueError, TypeError, OverflowError, IndexError, KeyError) as error:
        reference = reference_id()
        log.warning("list arguments refused %s on %s: %r", reference, request.full_path, error)
        db.session.rollback()
        raise HostileInput(
            description=_(
                "The list cannot be shown with these filter, sort or page arguments; "
                "open the list from the menu and filter again (reference %(reference)s).",
                reference=reference,
            )
        ) from None


_PAGE_ARGUMENT = re.compile(r"^(page|psize)_")
_PAGE_NUMBER = re.compile(r"^[0-9]{1,19}$")


def refuse_unreadable_page_arguments() -> None:
    """`page_…` and `psize_…` are ASCII numbers: FAB's int() also reads «１» or «٣» as a page."""
    for key, value in request.args.items():
        if _PAGE_ARGUMENT.match(key) and not _PAGE_NUMBER.match(value):
            if key.startswith("page_"):
                raise HostileInput(description=_("There is no page %(page)s.", page=value[:20]))
            raise HostileInput(description=_("Rows per page: from 1 to %(limit)d.", limit=MAX_PAGE_SIZE))


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
    """A new record's form offers the current user as its responsible manager; its dropdowns
    never show FAB's code for nobody («__None»)."""

    def _init_forms(self) -> None:
        super()._init_forms()
        # FAB's empty choice has no text, so WTForms shows its value «__None» in the dropdown.
        for form in (self.add_form, self.edit_form):
            if hasattr(form, "responsible"):
                form.responsible.kwargs["blank_text"] = _l("— not assigned —")
        # The search filter «equal to» needs a manager: without its empty choice (which the list
        # refuses as a filter value) it opens on the first one.
        if hasattr(self.search_form, "responsible"):
            self.search_form.responsible.kwargs["allow_blank"] = False

    def _get_add_widget(self, form, exclude_cols=None, widgets=None):
        if request.method == "GET" and "responsible" in form and form.responsible.data is None:
            form.responsible.data = g.user
        return super()._get_add_widget(form, exclude_cols=exclude_cols, widgets=widgets)


class WriteRefusal:
    """What `CrmModelView._guarded_write` found: nothing (falsy), a refusal, or the database's."""

    def __init__(self) -> None:
        self.refused = False
        self.by_database = False

    def __bool__(self) -> bool:
        return self.refused


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
        with refused_list_arguments():
            get_filter_args(self._filters)
            return super()._get_search_widget(form=self.search_form.refresh())["search"]()

    def _list(self, **kwargs):
        refuse_unreadable_page_arguments()
        with refused_list_arguments():
            return super()._list(**kwargs)

    def _show(self, pk):
        with refused_list_arguments():  # the page's related lists read the same arguments
            return super()._show(pk)

    def _get_list_widget(self, filters, order_column="", order_direction="", page=None, page_size=None, **kwargs):
        self.check_list_arguments(filters, order_column, page, page_size)
        with refused_list_arguments():
            return super()._get_list_widget(
                filters,
                order_column=order_column,
                order_direction=order_direction,
                page=page,
                page_size=page_size,
                **kwargs,
            )

    def check_list_arguments(self, filters, order_column: str = "", page=None, page_size=None) -> None:
        """Only the sort columns the list offers, and pages that exist: FAB passes any `_oc_` and
        `page_` value to the query (a relation name or -1 is a database error there). The list and
        its Excel export both ask here."""
        if order_column and order_column not in self.order_columns:
            raise HostileInput(description=_("The list cannot be sorted by «%(column)s».", column=order_column[:50]))
        if page is not None and not 0 <= page <= MAX_PAGE:
            raise HostileInput(description=_("There is no page %(page)s.", page=str(page)[:20]))
        if page_size is not None and not 1 <= page_size <= MAX_PAGE_SIZE:
            raise HostileInput(
                description=_("Rows per page: from 1 to %(limit)d.", limit=MAX_PAGE_SIZE),
            )
        try:
            parse_money_filters(filters, self.money_columns)
        except Refused as refusal:
            raise HostileInput(description=str(refusal)) from None
        check_filter_values(filters, self.label_columns)

    def _get_search_widget(self, form=None, exclude_cols=None, widgets=None) -> dict:
        """A placeholder in the folded search panel. FAB's form, with every filter's operators and
        the choices of related fields, costs a quarter of a list page that rarely opens it."""
        widgets = widgets or {}
        url = url_for(f"{self.endpoint}.search_panel")
        if request.query_string:
            url = f"{url}?{request.query_string.decode()}"
        widgets["search"] = lambda: Markup(render_template("crm/_search_panel.html", url=url))
        return widgets

    # FAB's _add/_edit/_delete, except where the write fails. FAB flashes the database driver's text
    # (SQL and parameters on add, an empty or English line on edit and delete) and drops the form:
    # here the message says what to do with a reference id (details in the log), and a refused
    # add or edit shows the form again with everything the user typed.

    def _add(self):
        get_filter_args(self._filters, disallow_if_not_in_search=False)
        exclude_cols = self._filters.get_relation_cols()
        form = self.add_form.refresh()
        if request.method != "POST":
            self.update_redirect()
            return self._get_add_widget(form=form, exclude_cols=exclude_cols)
        self._fill_form_exclude_cols(exclude_cols, form)
        if not form.validate():
            return self._get_add_widget(form=form, exclude_cols=exclude_cols)
        self.process_form(form, True)
        item = self.datamodel.obj()
        with self._guarded_write() as refused:
            form.populate_obj(item)
            self.pre_add(item)
            self.datamodel.add(item)
            self.post_add(item)
        if refused.by_database:
            form = self.add_form.refresh()  # read again from the request: process_form took rows out
            self._fill_form_exclude_cols(exclude_cols, form)
            return self._get_add_widget(form=form, exclude_cols=exclude_cols)
        if not refused:
            flash(self.add_row_message, "success")
        return None

    def _edit(self, pk):
        if request.method != "POST":
            return super()._edit(pk)
        pages, page_sizes, orders = get_page_args(), get_page_size_args(), get_order_args()
        get_filter_args(self._filters, disallow_if_not_in_search=False)
        exclude_cols = self._filters.get_relation_cols()
        item = self.datamodel.get(pk, self._base_filters)
        if not item:
            abort(404)
        pk = self.datamodel.get_pk_value(item)
        form = self.edit_form.refresh(request.form)
        self._fill_form_exclude_cols(exclude_cols, form)
        form._id = pk  # FAB's trick for its unique validators
        if form.validate():
            self.process_form(form, False)
            with self._guarded_write() as refused:
                form.populate_obj(item)
                self.pre_update(item)
                self.datamodel.edit(item)
                self.post_update(item)
            if not refused:
                flash(self.edit_row_message, "success")
                return None
            if not refused.by_database:
                return None
            item = self.datamodel.get(pk, self._base_filters)  # as stored: the session was rolled back
            form = self.edit_form.refresh(request.form)
            self._fill_form_exclude_cols(exclude_cols, form)
        widgets = self._get_edit_widget(form=form, exclude_cols=exclude_cols)
        return self._get_related_views_widgets(
            item, filters={}, orders=orders, pages=pages, page_sizes=page_sizes, widgets=widgets
        )

    def _delete(self, pk):
        item = self.datamodel.get(pk, self._base_filters)
        if not item:
            abort(404)
        with self._guarded_write() as refused:
            self.pre_delete(item)
            self.datamodel.delete(item)
            self.post_delete(item)
        if not refused:
            flash(self.delete_row_message, "success")
        if not refused or refused.by_database:
            self.update_redirect()

    @contextmanager
    def _guarded_write(self) -> Iterator[WriteRefusal]:
        """A write the access policy or the database refused: rolled back, the reason flashed."""
        refusal = WriteRefusal()
        try:
            yield refusal
        except WriteRefused as error:
            db.session.rollback()
            flash(error.message, "danger")
            refusal.refused = True
        except (SQLAlchemyError, DatabaseException) as error:
            _, message = database_refusal(error.__cause__ if isinstance(error, DatabaseException) else error)
            flash(message, "danger")
            refusal.refused = refusal.by_database = True

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

    # Columns whose search values are amounts typed the Russian way («1 250 000,50»).
    money_columns: ClassVar[tuple[str, ...]] = ()

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
