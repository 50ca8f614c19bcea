"""Error answers a person can act on, in the user's language."""

from __future__ import annotations

import re

from flask import Flask, flash, redirect, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from app.files import too_large_message

_UPLOAD_PATH = re.compile(r"^/requestview/upload/(\d+)$")


def register_error_handlers(app: Flask) -> None:
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
