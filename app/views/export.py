"""«Экспорт в Excel» for the lists: the list's own query, all pages, as XLSX or CSV.

The rows come from the same query FAB runs for the page (the access policy's base filters, the
quick search and the search panel's filters, the chosen order), without the page limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from flask import Response, current_app, flash, redirect, request, send_file, stream_with_context, url_for
from flask_appbuilder import expose, has_access, permission_name
from flask_appbuilder.urltools import get_filter_args, get_order_args
from flask_babel import gettext as _

from app.spreadsheets.columns import EXPORT_COLUMNS
from app.spreadsheets.export import ExportColumn, stream_csv, write_xlsx
from app.views.base import refused_list_arguments

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = {"xlsx": None, "csv": "cp1251", "csv-utf8": "utf-8"}


def export_limit() -> int:
    return int(current_app.config["EXPORT_MAX_ROWS"])


def too_many_rows_message(count: int) -> str:
    return _(
        "The list has %(count)d rows; at most %(limit)d can be exported at once. Narrow the search or filters.",
        count=count,
        limit=export_limit(),
    )


def export_response(title: str, columns: list[ExportColumn], records: Iterable[Any], export_format: str) -> Response:
    """The file to download: XLSX built in a spooled temporary file, CSV streamed as it is read."""
    stem = f"{title} {date.today().strftime('%d.%m.%Y')}"
    encoding = FORMATS.get(export_format)
    if encoding is None:
        return send_file(
            write_xlsx(columns, records, title), mimetype=XLSX_TYPE, as_attachment=True, download_name=f"{stem}.xlsx"
        )
    response = Response(
        stream_with_context(stream_csv(columns, records, encoding)),
        mimetype=f"text/csv; charset={'windows-1251' if encoding == 'cp1251' else 'utf-8'}",
    )
    response.headers["Content-Disposition"] = _attachment(f"{stem}.csv")
    return response


def _attachment(name: str) -> str:
    from urllib.parse import quote

    return f"attachment; filename=\"export.csv\"; filename*=UTF-8''{quote(name)}"


def requested_format() -> str:
    export_format = request.args.get("format", "xlsx")
    return export_format if export_format in FORMATS else "xlsx"


class ExportMixin:
    """Adds /export/ to a ModelView: the rows its list shows, in every page, as a file."""

    @expose("/export/")
    @has_access
    @permission_name("list")
    def export(self):
        order = get_order_args().get(self.__class__.__name__)
        order_column, order_direction = order if order else (self.base_order or ("", ""))
        get_filter_args(self._filters)
        # The list's own checks: a hand-edited sort or filter value is the list's 400, not a 500,
        # and money typed the Russian way («1 250 000,50») filters as a number here too.
        self.check_list_arguments(self._filters, order[0] if order else "")
        filters = self._filters.get_joined_filters(self._base_filters)
        datamodel = self.datamodel
        base = datamodel.session.query(datamodel.obj)
        with refused_list_arguments():
            count = datamodel.query_count(base, filters)
        if count > export_limit():
            flash(too_many_rows_message(count), "warning")
            arguments = {key: value for key, value in request.args.items() if key != "format"}
            return redirect(url_for(f"{self.endpoint}.list", **arguments))
        # A server-side cursor on PostgreSQL: rows are fetched and written a thousand at a time.
        query = datamodel.apply_all(base, filters, order_column, order_direction).yield_per(1000)
        return export_response(str(self.list_title), EXPORT_COLUMNS[datamodel.obj], query, requested_format())
