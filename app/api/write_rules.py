"""REST answers for writes the access policy or the records' dependants refuse.

FAB's `@safe` turns any exception of a pre_add/pre_update/pre_delete hook into a 500 (only
BadRequest becomes a 400): here a `WriteRefused` becomes its own status (403 or 409) with its
message in the user's language, and nothing of the refused write stays in the session.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml
from apispec import yaml_utils
from flask import Response
from flask_appbuilder.api import ModelRestApi

from app.access import WriteRefused
from app.extensions import db

_REFUSAL_BODY = {"application/json": {"schema": {"type": "object", "properties": {"message": {"type": "string"}}}}}
REFUSAL_RESPONSES = {
    403: {"description": "Not the caller's to change (a colleague's client); the reason", "content": _REFUSAL_BODY},
    409: {"description": "Other records depend on it (e.g. an organisation's requests)", "content": _REFUSAL_BODY},
}


def documented_refusals(api_class: type, existing: dict[str, Any]) -> dict[str, Any]:
    """openapi_spec_methods for post, put and delete: FAB's responses plus 403 and 409.

    FAB merges an override shallowly (it replaces a method's whole `responses`), so FAB's own list
    is read from its docstring and extended.
    """
    methods = dict(existing)
    for name in ("post", "put", "delete"):
        doc = yaml_utils.load_operations_from_docstring(getattr(ModelRestApi, name).__doc__)
        doc = yaml.safe_load(str(doc).replace("{{self.__class__.__name__}}", api_class.__name__))
        override = dict(methods.get(name, {}).get(name, {}))
        override["responses"] = {**doc[name]["responses"], **REFUSAL_RESPONSES, **override.get("responses", {})}
        methods[name] = {**methods.get(name, {}), name: override}
    return methods


class WriteRulesMixin:
    """For a ModelRestApi: POST, PUT and DELETE answer a refusal instead of failing, and the
    OpenAPI description lists those answers."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.openapi_spec_methods = documented_refusals(cls, getattr(cls, "openapi_spec_methods", {}))

    def _refusable(self, write: Callable[[], Response]) -> Response:
        try:
            return write()
        except WriteRefused as refusal:
            db.session.rollback()
            return self.response(refusal.status, message=refusal.message)

    def post_headless(self) -> Response:
        return self._refusable(super().post_headless)

    def put_headless(self, pk) -> Response:
        return self._refusable(lambda: super(WriteRulesMixin, self).put_headless(pk))

    def delete_headless(self, pk) -> Response:
        return self._refusable(lambda: super(WriteRulesMixin, self).delete_headless(pk))
