"""REST answers for writes the access policy or the records' dependants refuse.

FAB's `@safe` turns any exception of a pre_add/pre_update/pre_delete hook into a 500 (only
BadRequest becomes a 400): here a `WriteRefused` becomes its own status (403 or 409) with its
message in the user's language, and nothing of the refused write stays in the session.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Response

from app.access import WriteRefused
from app.extensions import db


class WriteRulesMixin:
    """For a ModelRestApi: POST, PUT and DELETE answer a refusal instead of failing."""

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
