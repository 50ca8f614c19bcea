"""The WSGI app of `make run`: set up once in gunicorn's master (`--preload`), then forked.

Migrations, roles, the Agent download and the administrator are done here, where the application
is imported anyway, rather than in the launcher: importing it once more only to set up cost a
second start seconds on a two-core laptop. The line telling how to log in goes to the file the
launcher names, for its banner. Production runs `flask crm init` and serves `run:app` instead.
"""

from __future__ import annotations

import logging
import os

from app.cli import initialise
from app.extensions import db
from app.launcher import SETUP_FAILED
from run import app

log = logging.getLogger(__name__)


def _set_up() -> None:
    try:
        with app.app_context():
            hint = initialise()
            db.session.remove()  # its connection back to the pool, which is then closed:
            db.engine.dispose()  # the workers are forked from here and none may share a connection
    except Exception:
        log.exception("ZapTrade CRM could not set up its database; nothing was started")
        raise SystemExit(SETUP_FAILED) from None
    hint_file = os.environ.get("CRM_START_HINT_FILE")
    if hint_file:
        descriptor = os.open(hint_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # may hold the first password
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(hint)


_set_up()
