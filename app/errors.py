"""Error answers a person can act on, in the user's language; details only in the log.

Three layers, each in one place:
- input no handler should ever see (NUL bytes, ids past 64 bits, Unicode digits as ids, JSON that
  is not an object or nests without end) is refused before routing reaches a view;
- 4xx answers are Russian pages inside the site layout, or JSON under /api/;
- whatever still fails is logged with a reference id that the page or JSON shows instead.
"""

from __future__ import annotations

import json
import logging
import math
import re
import secrets
from typing import Any

from dateutil import parser as date_parser
from flask import Flask, current_app, flash, redirect, render_template, request, url_for
from flask_appbuilder.models.filters import BaseFilter, FilterRelation
from flask_appbuilder.models.sqla import filters as sqla_filters
from flask_babel import gettext as _
from markupsafe import escape
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import BadRequest, HTTPException, NotFound, RequestEntityTooLarge
from werkzeug.routing import IntegerConverter

from app.files import too_large_message

log = logging.getLogger(__name__)

_UPLOAD_PATH = re.compile(r"^/requestview/upload/(\d+)$")
# An id is 1 to 19 ASCII digits below 2**63 (PostgreSQL's bigint, SQLite's INTEGER).
MAX_ID = 2**63 - 1
_ASCII_ID = re.compile(r"^[0-9]{1,19}$")
_API_RECORD_PATH = re.compile(r"^/api/v1/[a-z_]+/([^/]+)/?$")
MAX_JSON_DEPTH = 32
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
MAX_JSON_INTEGER = 2**63 - 1
# The last page a list (web or REST) may be asked for; past it the offset is a database error.
MAX_PAGE = 1_000_000


def is_id(value: object) -> bool:
    """ASCII digits within bigint: `int()` would also take «１», «٣» and 2**70."""
    return isinstance(value, str) and bool(_ASCII_ID.fullmatch(value)) and 0 < int(value) <= MAX_ID


class RecordIdConverter(IntegerConverter):
    """`<int:…>` in every route: ASCII digits only (Python's `\\d` matches every script's digits)
    and within bigint, so a path id never reaches the database as something it cannot hold."""

    regex = r"[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_ID:
            from werkzeug.routing import ValidationError

            raise ValidationError()
        return number


def install_strict_converters(app: Flask) -> None:
    """Call before any route is added: rules pick their converter when they are added."""
    app.url_map.converters["int"] = RecordIdConverter


def reference_id() -> str:
    return f"E-{secrets.token_hex(4).upper()}"


def wants_json() -> bool:
    return request.path.startswith("/api/")


class HostileInput(BadRequest):
    """Input refused before any view runs; the description is already in the user's language."""


def _json_problem(value: Any, depth: int = 0, refuse_nul: bool = True) -> str | None:
    """Why a JSON body cannot be used as given, or None. NUL in text is left to the field rules
    where there are some (they name the field); `refuse_nul` is for bodies without."""
    if depth > MAX_JSON_DEPTH:
        return _("The JSON is nested too deeply.")
    if isinstance(value, dict):
        for key, item in value.items():
            problem = ("\x00" in key and _("The text contains a NUL character.")) or _json_problem(
                item, depth + 1, refuse_nul
            )
            if problem:
                return problem
    elif isinstance(value, list):
        for item in value:
            problem = _json_problem(item, depth + 1, refuse_nul)
            if problem:
                return problem
    elif isinstance(value, str):
        if refuse_nul and "\x00" in value:
            return _("The text contains a NUL character.")
    elif isinstance(value, bool) or value is None:
        return None
    elif isinstance(value, int):
        if abs(value) > MAX_JSON_INTEGER:
            return _("The number %(number)s is too large.", number=str(value)[:30])
    elif isinstance(value, float) and not math.isfinite(value):
        return _("Numbers must be finite: NaN and Infinity are not numbers.")
    return None


def _refuse(message: str) -> HostileInput:
    return HostileInput(description=message)


def check_incoming_request() -> None:
    """Refuse what no view can store or look up, before the view runs."""
    for key, values in request.args.lists():
        if "\x00" in key or any("\x00" in value for value in values):
            raise _refuse(_("The address contains a NUL character."))
    for name, value in (request.view_args or {}).items():
        if (name == "pk" or name.endswith("_id")) and isinstance(value, str) and not is_id(value):
            raise NotFound()
    posted_form = request.method in ("POST", "PUT", "PATCH") and request.mimetype in _FORM_TYPES
    if posted_form and any("\x00" in value for values in request.form.listvalues() for value in values):
        raise _refuse(_("The form contains a NUL character; please retype the text and send it again."))
    if wants_json() and request.method in ("POST", "PUT", "PATCH"):
        _check_json_body()
    if wants_json() and request.args.get("q"):
        _check_rison(request.args["q"])


def _check_rison(text: str) -> None:
    """FAB's rison parser recurses once per bracket: `q=((((…` exhausts the stack."""
    import prison

    try:
        prison.loads(text)
    except RecursionError:
        raise _refuse(_("The query argument q is nested too deeply.")) from None
    except Exception:  # FAB answers malformed rison itself, with 400
        return


def _check_json_body() -> None:
    raw = request.get_data(cache=True)
    if not raw:
        if request.is_json:
            raise _refuse(_("A JSON object is expected."))
        return
    if not request.is_json:
        return
    try:
        # Python's parser would take NaN and Infinity; JSON has neither.
        payload = json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        raise _refuse(_("The JSON is nested too deeply.")) from None
    except (ValueError, UnicodeDecodeError):
        raise _refuse(_("The body is not valid JSON.")) from None
    if not isinstance(payload, dict):
        raise _refuse(_("A JSON object is expected."))
    # Our resources check every text field (app/validation.py, app/api/base.py); FAB's security
    # API does not, and PostgreSQL cannot compare a NUL.
    problem = _json_problem(payload, refuse_nul=request.path.startswith("/api/v1/security/"))
    if problem:
        raise _refuse(problem)
    request._cached_json = (payload, payload)  # the views read the checked value, not a second parse


def _no_constant(name: str) -> None:
    raise ValueError(name)


# The filters a user chooses in a search panel or a rison `filters` list (FAB's own); the access
# policy's base filters and the quick search are ours and take no typed value.
_TYPED_FILTERS = tuple(getattr(sqla_filters, name) for name in sqla_filters.__all__ if "Function" not in name)


def check_filter_values(filters, labels: dict[str, Any]) -> None:
    """Refuse a typed filter value its column cannot be compared with, on every database alike.

    SQLite compares «abc» with an id or a date as text and answers an empty (or unfiltered) list,
    PostgreSQL refuses the query, and FAB drops an unreadable date silently: the user would trust a
    list that was not filtered the way he asked. A list of values is FAB's "each of them" (the web
    search sends every argument as a list), so each value is checked.
    """
    for column_filter, value in zip(filters.filters, filters.values, strict=False):
        if not isinstance(column_filter, _TYPED_FILTERS):
            continue
        label = str(labels.get(column_filter.column_name) or column_filter.column_name)[:50]
        for one in value if isinstance(value, list) else [value]:
            problem = _filter_value_problem(column_filter, one, label)
            if problem:
                raise _refuse(problem)


def _filter_value_problem(column_filter: BaseFilter, value: Any, label: str) -> str | None:
    if isinstance(value, (list, dict)):
        return _("The filter on «%(column)s» takes one value or a list of values.", column=label)
    if value is None or value == "":
        return None  # an empty search box: FAB leaves such a filter out, or looks for no value
    datamodel, column = column_filter.datamodel, column_filter.column_name
    if isinstance(column_filter, FilterRelation):
        if not _is_record_id(value):
            return _(
                "The filter on «%(column)s» takes the number of a record, not «%(value)s».", **_shown(label, value)
            )
    elif datamodel.is_date(column) or datamodel.is_datetime(column):
        if not _is_date(value):
            return _(
                "The filter on «%(column)s» takes a date such as 2026-12-31, not «%(value)s».", **_shown(label, value)
            )
    elif (datamodel.is_integer(column) or datamodel.is_float(column)) and not _is_number(value):
        return _("The filter on «%(column)s» takes a number, not «%(value)s».", **_shown(label, value))
    return None


def _shown(label: str, value: Any) -> dict[str, str]:
    return {"column": label, "value": str(value)[:50]}


def _is_record_id(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return is_id(value) or (isinstance(value, int) and 0 < value <= MAX_ID)


def _is_date(value: Any) -> bool:
    """What FAB's filters read with dateutil; «notadate» or «9999-99-99» is not a date."""
    if not isinstance(value, str):
        return False
    try:
        date_parser.parse(value)
    except (ValueError, OverflowError):
        return False
    return True


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) <= MAX_JSON_INTEGER
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str) and bool(re.fullmatch(r"-?[0-9]{1,19}([.,][0-9]+)?", value.strip()))


def database_refusal(error: BaseException | None) -> tuple[str, str]:
    """A write the database refused (a constraint no rule foresaw, a race with another user, a
    value it cannot store): logged under a reference id, the session rolled back. The message,
    for a REST answer or a form's flash, says what to do and never carries the database's text."""
    reference = reference_id()
    log.error("Write refused by the database %s on %s %s", reference, request.method, request.path, exc_info=error)
    _rollback()
    if isinstance(error, IntegrityError):
        message = _(
            "Not saved: the record is linked to other records or repeats an existing one (reference %(reference)s).",
            reference=reference,
        )
    else:
        message = _(
            "Not saved: a value cannot be stored; check what was entered (reference %(reference)s).",
            reference=reference,
        )
    return reference, message


_MESSAGES = {
    400: lambda: _("The request cannot be processed: check what was entered."),
    401: lambda: _("Please log in."),
    403: lambda: _("You do not have access to this page."),
    404: lambda: _("The page or record was not found. It may have been deleted, or you have no access to it."),
    405: lambda: _("This action is not available here."),
    413: too_large_message,
    429: lambda: _("Too many attempts. Please wait a few minutes and try again."),
}


def http_error_page(error: HTTPException):
    """A 4xx as a Russian page in the site layout, or JSON under /api/."""
    status = error.code or 500
    if wants_json() and status == 405 and _is_a_record_that_does_not_exist(error):
        status = 404
    message = error.description if isinstance(error, HostileInput) else _MESSAGES.get(status, _MESSAGES[400])()
    if wants_json():
        return {"message": message}, status
    return _render_page(status, message, headers=error.get_response().headers if status == 405 else None)


def _is_a_record_that_does_not_exist(error: HTTPException) -> bool:
    """`GET /api/v1/organization/-1` (or `/_x`, `/1%0A`) matched only the PUT/DELETE `<pk>` route:
    it names a record that does not exist. `POST /api/v1/organization/_info` is a real 405."""
    record = _API_RECORD_PATH.match(request.path)
    if record is None or is_id(record.group(1)):
        return False
    adapter = current_app.url_map.bind("")
    for method in getattr(error, "valid_methods", None) or []:
        try:
            _rule, arguments = adapter.match(request.path, method=method)
        except HTTPException:
            continue
        if "pk" not in arguments:
            return False
    return True


def server_error_page(error: BaseException):
    """Every remaining 5xx: logged with a reference id; the user sees only the reference."""
    reference = reference_id()
    log.error("Unhandled error %s on %s %s", reference, request.method, request.path, exc_info=error)
    _rollback()
    message = _(
        "Something went wrong on our side. The error is logged as %(reference)s: "
        "give this reference to the administrator.",
        reference=reference,
    )
    if wants_json():
        return {"message": message, "reference": reference}, 500
    return _render_page(500, message, reference=reference)


def _rollback() -> None:
    from app.extensions import db

    try:
        db.session.rollback()
    except Exception:
        log.exception("rollback after an error failed")


def _render_page(status: int, message: str, reference: str | None = None, headers=None):
    from app.extensions import appbuilder

    titles = {
        400: _("Cannot process the request"),
        403: _("No access"),
        404: _("Not found"),
        500: _("Error"),
    }
    title = titles.get(status, titles[400] if status < 500 else titles[500])
    try:
        body = render_template(
            "crm/error.html",
            base_template=appbuilder.base_template,
            appbuilder=appbuilder,
            title=title,
            message=message,
            reference=reference,
            status=status,
        )
    except Exception:
        log.exception("the error page could not be rendered in the layout")
        _rollback()
        body = (
            "<!doctype html><html lang='ru'><meta charset='utf-8'>"
            f"<title>{escape(title)}</title><h1>{escape(title)}</h1><p>{escape(message)}</p></html>"
        )
    return (body, status, headers) if headers else (body, status)


def register_error_handlers(app: Flask) -> None:
    app.before_request(check_incoming_request)

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(error: RequestEntityTooLarge):
        """An oversized upload returns the manager to the request with a message; nothing is lost."""
        upload = _UPLOAD_PATH.match(request.path)
        if upload:
            flash(too_large_message(), "danger")
            return redirect(url_for("RequestView.show", pk=int(upload.group(1)), _anchor="documentation"))
        if request.path.startswith("/imports/"):  # the client-base import: back to its page
            flash(too_large_message(), "danger")
            return redirect(url_for("ImportView.index"))
        if request.path.startswith("/api/"):
            return {"message": too_large_message()}, 413
        return too_large_message(), 413

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.code is None or error.code < 400 or error.code == 413:
            return error
        if error.code >= 500:
            return server_error_page(error)
        return http_error_page(error)

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        return server_error_page(error)
