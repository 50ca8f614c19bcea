"""The import of a client base, and its undo, as background jobs: they take the import's id and
the user's id, act as that user (stamps and audit name him), and are safe to run twice."""

from __future__ import annotations

import logging
import uuid

from flask import current_app, g
from flask_babel import gettext as _
from redis.exceptions import RedisError
from sqlalchemy import update

from app.extensions import db
from app.jobs.context import in_app_context, job_queue
from app.models.imports import ImportBatch, ImportState
from app.models.stamps import utcnow
from app.models.users import CrmUser
from app.spreadsheets.importing import dry_run, run_import
from app.spreadsheets.reading import UnreadableFile
from app.spreadsheets.undoing import undo_import

log = logging.getLogger(__name__)


def _claim(batch_id: int, expected: ImportState, new: ImportState) -> bool:
    """Queued → running in one UPDATE: a second run of the same job finds nothing to do."""
    claimed = db.session.execute(
        update(ImportBatch).where(ImportBatch.id == batch_id, ImportBatch.state == expected).values(state=new)
    ).rowcount
    db.session.commit()
    return claimed == 1


@in_app_context
def import_clients(batch_id: int, user_id: int) -> str:
    if not _claim(batch_id, ImportState.QUEUED, ImportState.RUNNING):
        return "not queued"
    batch = db.session.get(ImportBatch, batch_id)
    user = db.session.get(CrmUser, user_id)
    try:
        # The records are created "by" the importing user: the stamps and the audit trail read
        # the acting user from the request's g.user.
        with current_app.test_request_context():
            g.user = user
            run_import(batch, user_id, db.session)
    except Exception as error:
        db.session.rollback()
        log.exception("import %s failed", batch_id)
        batch = db.session.get(ImportBatch, batch_id)
        batch.state, batch.finished_on = ImportState.FAILED, utcnow()
        batch.message = str(error) if isinstance(error, UnreadableFile) else f"{error.__class__.__name__}: {error}"
        db.session.commit()
        return "failed"
    return "done"


@in_app_context
def check_clients(batch_id: int, user_id: int) -> str:
    """The dry run of a large file; the page polls until the import is "checked"."""
    batch = db.session.get(ImportBatch, batch_id)
    if batch is None or batch.state != ImportState.CHECKING:
        return "not checking"
    try:
        with current_app.test_request_context():
            g.user = db.session.get(CrmUser, user_id)
            dry_run(batch, db.session)
    except UnreadableFile as refusal:
        db.session.rollback()
        batch = db.session.get(ImportBatch, batch_id)
        batch.state, batch.message = ImportState.UPLOADED, str(refusal)
    db.session.commit()
    return batch.state


@in_app_context
def undo_clients(batch_id: int, user_id: int, previous_state: str) -> str:
    """The undo the page asked for (the state is "undoing"); checked again here, since a record
    may have been changed since the click. Refused or failed, the import gets its state back."""
    batch = db.session.get(ImportBatch, batch_id)
    if batch is None or batch.state != ImportState.UNDOING:
        return "not undoing"
    with current_app.test_request_context():
        g.user = db.session.get(CrmUser, user_id)
        try:
            if not undo_import(batch, db.session):
                return "undone"
            message = _("The import cannot be undone: its records were changed since.")
        except Exception as error:
            db.session.rollback()
            log.exception("undo of import %s failed", batch_id)
            message = f"{error.__class__.__name__}: {error}"
        batch = db.session.get(ImportBatch, batch_id)
        batch.state, batch.message = previous_state, message
        db.session.commit()
    return "refused"


def enqueue(batch: ImportBatch, user_id: int, check: bool = False) -> bool:
    """Hand the dry run or the import to the worker (the caller has committed the new state);
    False, with the state put back, when Redis cannot be reached."""
    job = check_clients if check else import_clients
    return _enqueue(batch, job, (batch.id, user_id), ImportState.UPLOADED if check else ImportState.CHECKED)


def enqueue_undo(batch: ImportBatch, user_id: int, previous_state: str) -> bool:
    """Hand the undo to the worker (the caller has committed the state "undoing")."""
    return _enqueue(batch, undo_clients, (batch.id, user_id, previous_state), previous_state)


def _enqueue(batch: ImportBatch, job, args: tuple, fallback_state: str) -> bool:
    try:
        job_queue().enqueue(job, *args, job_id=f"import-{batch.id}-{uuid.uuid4().hex}", job_timeout=3600)
    except RedisError:
        log.exception("import %s not queued", batch.id)
        batch.state = fallback_state
        db.session.commit()
        return False
    return True
