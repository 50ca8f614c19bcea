"""What every REST resource of ours shares: no database text in any answer, input parsed by the
rules of app/validation.py before FAB's schema sees it, and bad query arguments answered with 400."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Callable
from typing import Any, ClassVar

from flask import request
from flask_appbuilder.api import ModelRestApi
from flask_appbuilder.exceptions import FABException
from flask_babel import gettext as _
from marshmallow.fields import Field
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from werkzeug.exceptions import BadRequest

from app.errors import MAX_PAGE, check_filter_values, database_refusal, reference_id
from app.extensions import db
from app.validation import Refused, parse_money, parse_money_filters, parse_related_id

log = logging.getLogger(__name__)

Parser = Callable[[Any], Any]
# What a list or info query built from hand-made `q=` arguments raises when FAB or the database
# cannot use them: a 400 about the arguments, not a 500.
_QUERY_ERRORS = (
    FABException,
    SQLAlchemyError,
    ValueError,
    TypeError,
    OverflowError,
    KeyError,
    IndexError,
    AttributeError,
    RecursionError,
)


_WERKZEUG_400 = f"{BadRequest().code} {BadRequest().name}: "


def _russian_400(message: str) -> str:
    """The user's-language sentence for a 400 message of FAB's (or a BadRequest's str())."""
    if message.startswith(_WERKZEUG_400):  # FAB's @safe answers a BadRequest with str(error)
        message = message.removeprefix(_WERKZEUG_400)
        if message == BadRequest.description:  # werkzeug's English default: nothing more was said
            return _("The request cannot be processed: check what was entered.")
        return message
    if message.startswith("ApplyFilterException"):
        # FAB's wording for a filter value the database could not compare (text for an id…).
        return _("A filter value does not suit its field: check the q= argument.")
    fab = _FAB_400.match(message)
    if fab is None:
        return message
    kind, name = fab.lastgroup, (fab.group(fab.lastgroup) or "")[:50]
    if kind == "order":
        return _("The list cannot be sorted by «%(column)s».", column=name)
    if kind == "filter_column":
        return _("The list cannot be filtered by «%(column)s».", column=name)
    if kind == "filter_operation":
        return _("This filter operator does not apply to «%(column)s».", column=name)
    return _(
        "The q= argument is not what this address takes: check its page, page_size, filters, "
        "order_column, order_direction, columns and keys."
    )


# FAB's 400 sentences (flask_appbuilder/api/__init__.py, models/filters.py), by what they refuse.
_FAB_400 = re.compile(
    r"^(?:Invalid order by column: (?P<order>.*)"
    r"|Filter column: (?P<filter_column>.*) not allowed to filter"
    r"|Filter operation: .* not allowed on column: (?P<filter_operation>.*)"
    r"|(?P<rison>Not a valid rison.*|Cannot use both select and sel columns))$",
    re.DOTALL,
)


def _current_exception() -> BaseException | None:
    """The exception being handled, with FAB's DatabaseException unwrapped to its cause."""
    error = sys.exc_info()[1]
    while error is not None and error.__cause__ is not None and not isinstance(error, SQLAlchemyError):
        error = error.__cause__
    return error


class CrmModelRestApi(ModelRestApi):
    """FAB's ModelRestApi without its leaks.

    FAB answers 422 "Database exception occurred: …" with the driver's message, which names the
    SQL, its parameters and the failing row (another manager's request included). Here the
    database's text goes to the log under a reference id, and the answer says what to do.
    """

    # Column → parser from app/validation.py (raises Refused): runs on the JSON body before FAB's
    # schema, so «1 250 000,50» is a price and 1.5 is not an id.
    input_parsers: ClassVar[dict[str, Parser]] = {}

    def _relation_columns(self, columns: list[str]) -> list[str]:
        return [name for name in columns if self.datamodel.is_relation(name)]

    def _parse_body(self, columns: list[str]) -> dict[str, list[str]]:
        """Apply the parsers to the (already checked) JSON object in place; the refusals by field."""
        payload = request.get_json(silent=True)
        if not isinstance(payload, dict):
            return {}
        errors: dict[str, list[str]] = {}
        parsers: dict[str, Parser] = {name: parse_related_id for name in self._relation_columns(columns)}
        parsers.update(self.input_parsers)
        for name, value in payload.items():
            # A text field without its own rule still may not carry a NUL (PostgreSQL refuses it).
            if isinstance(value, str) and "\x00" in value and name not in self.validators_columns:
                errors[name] = [_("Contains invisible control characters; please retype the text.")]
        for name, parse in parsers.items():
            if name not in payload or name not in columns:
                continue
            try:
                value = parse(payload[name])
            except Refused as refusal:
                errors[name] = [str(refusal)]
            else:
                payload[name] = str(value) if value is not None and not isinstance(value, (int, str)) else value
        return errors

    def _handle_filters_args(self, rison_args: dict[str, Any]):
        """Rison filters on money columns take Russian amounts too, like the web search; a filter
        without its column, operator or value is refused (FAB drops it and lists everything), and
        so is a value its column cannot be compared with (app/errors.py)."""
        for one in rison_args.get("filters") or []:
            if not isinstance(one, dict) or not {"col", "opr", "value"} <= one.keys():
                raise BadRequest(description=_("Each filter names its column, operator and value: col, opr, value."))
        filters = super()._handle_filters_args(rison_args)
        money_columns = [name for name, parse in self.input_parsers.items() if parse is parse_money]
        try:
            parse_money_filters(filters, money_columns)
        except Refused as refusal:
            raise BadRequest(description=str(refusal)) from None
        check_filter_values(self._filters, {})  # named as the q= argument names them
        return filters

    def _handle_page_args(self, rison_args: dict[str, Any]):
        """A page that cannot exist is refused; a page size past the limit is capped (FAB's rule)."""
        page = rison_args.get("page")
        if page is not None and not 0 <= page <= MAX_PAGE:
            raise BadRequest(description=_("There is no page %(page)s.", page=str(page)[:20]))
        return super()._handle_page_args(rison_args)

    def post_headless(self):
        if not request.is_json:
            return self.response_400(message=_("A JSON object is expected."))
        errors = self._parse_body(self.add_columns)
        if errors:
            return self.response_422(message=errors)
        return super().post_headless()

    def put_headless(self, pk):
        if not request.is_json:
            return self.response_400(message=_("A JSON object is expected."))
        errors = self._parse_body(self.edit_columns)
        if errors:
            return self.response_422(message=errors)
        return super().put_headless(pk)

    def response_400(self, message: Any = None):
        """FAB's refusals are English sentences naming its internals; ours say what to change."""
        if isinstance(message, str):
            message = _russian_400(message)
        return super().response_400(message=message)

    def response_422(self, message: Any = None):
        if isinstance(message, str) and message.startswith("Database exception occurred"):
            return self._database_refusal(_current_exception())
        return super().response_422(message=message)

    def response_500(self, message: str | None = None):
        """FAB's @safe calls this for anything a handler raised: decide 4xx or a logged 500."""
        error = _current_exception()
        if request.method == "GET" and isinstance(error, _QUERY_ERRORS):
            # A list or info query built from hand-made `q=` arguments the database could not run.
            reference = self._log(error)
            db.session.rollback()
            return self.response_400(
                message=_("The query arguments cannot be used (reference %(reference)s).", reference=reference)
            )
        if isinstance(error, (IntegrityError, DataError)):
            return self._database_refusal(error)
        reference = self._log(error)
        db.session.rollback()
        return self.response(
            500,
            message=_(
                "Something went wrong on our side. The error is logged as %(reference)s: "
                "give this reference to the administrator.",
                reference=reference,
            ),
            reference=reference,
        )

    def _database_refusal(self, error: BaseException | None):
        reference, message = database_refusal(error)
        return self.response(422, message=message, reference=reference)

    @staticmethod
    def _log(error: BaseException | None) -> str:
        reference = reference_id()
        log.error("API error %s on %s %s", reference, request.method, request.path, exc_info=error)
        return reference

    def _get_field_info(self, field: Field, filter_rel_field: dict[str, Any], page=None, page_size=None) -> dict:
        """FAB passes an empty description to gettext, which answers with the catalogue's header."""
        info = super()._get_field_info(field, filter_rel_field, page=page, page_size=page_size)
        if not self.description_columns.get(field.name):
            info["description"] = ""
        if not self.label_columns.get(field.name):
            info["label"] = field.name
        return info


_MESSAGE_SCHEMA = {
    "anyOf": [
        {"type": "string"},
        {"type": "object", "description": "the refusal of each field, by field name"},
    ]
}


def correct_openapi(spec: dict, collections: set[tuple[str, str]] = frozenset()) -> dict:
    """The served description says what the API really answers; FAB's generated one is wrong in
    a few places that every client generator and Schemathesis trip over:
    - a 422 `message` is the refusal of each field (an object) as often as a sentence;
    - our ids are integers, not strings (`ids` of a list, `id` of a record);
    - a related record may be null, and a one-to-many relation is a list, not one object;
    - `_info` lists the add and edit columns as arrays of objects; a menu's children include "-";
    - datetimes are ISO 8601 without a zone, which is not `format: date-time`;
    - every operation may answer 400 (input refused before any view: app/errors.py), and every
      operation on a record 404.
    """
    for response in spec.get("components", {}).get("responses", {}).values():
        schema = response.get("content", {}).get("application/json", {}).get("schema", {})
        if "message" in schema.get("properties", {}):
            schema["properties"]["message"] = dict(_MESSAGE_SCHEMA)
    for name, schema in spec.get("components", {}).get("schemas", {}).items():
        resource = name.split(".")[0]
        for prop, value in (schema.get("properties") or {}).items():
            if isinstance(value, dict) and "$ref" in value:
                if (resource, prop) in collections:
                    schema["properties"][prop] = {"type": "array", "items": {"$ref": value["$ref"]}}
                else:
                    schema["properties"][prop] = {"allOf": [{"$ref": value["$ref"]}], "nullable": True}
    for path, operations in spec.get("paths", {}).items():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            operation["responses"].setdefault("400", {"$ref": "#/components/responses/400"})
            if "{" in path:
                operation["responses"].setdefault("404", {"$ref": "#/components/responses/404"})
    _walk(spec)
    return spec


def _walk(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _walk(item)
        return
    if not isinstance(node, dict):
        return
    properties = node.get("properties")
    if isinstance(properties, dict):
        ids = properties.get("ids")
        if isinstance(ids, dict) and ids.get("type") == "array":
            ids["items"] = {"type": "integer"}
        if isinstance(properties.get("id"), dict) and properties["id"].get("type") == "string":
            properties["id"] = {"type": "integer"}
        for name in ("add_columns", "edit_columns"):
            if properties.get(name) == {"type": "object"}:
                properties[name] = {"type": "array", "items": {"type": "object"}}
        childs = properties.get("childs")
        if isinstance(childs, dict) and childs.get("type") == "array":
            childs["items"] = {"anyOf": [{"type": "object"}, {"type": "string"}]}
    if node.get("format") == "date-time":
        del node["format"]
    for value in node.values():
        _walk(value)


def _collections(appbuilder) -> set[tuple[str, str]]:
    """(API class, column) of every one-to-many or many-to-many relation our APIs show."""
    found = set()
    for view in appbuilder.baseviews:
        if isinstance(view, ModelRestApi):
            for column in view.datamodel.get_columns_list():
                if view.datamodel.is_relation_one_to_many(column) or view.datamodel.is_relation_many_to_many(column):
                    found.add((type(view).__name__, column))
    return found


def register_openapi_corrections(app) -> None:
    @app.after_request
    def corrected_openapi(response):
        if request.endpoint == "OpenApi.get" and response.status_code == 200 and response.is_json:
            from app.extensions import appbuilder

            spec = correct_openapi(response.get_json(), _collections(appbuilder))
            response.set_data(json.dumps(spec))
        return response
