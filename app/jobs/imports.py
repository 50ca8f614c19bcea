"""The import of a client base as a background job: it takes the import's id and the user's id,
acts as that user (stamps and audit name him), and is safe to run twice."""

from __future__ import annotations

import logging

from flask import current_app, g
from sqlalchemy import update

from app.extensions import db
from app.jobs.context import in_app_context, job_queue
from app.models.imports import ImportBatch, ImportState
from app.models.stamps import utcnow
from app.models.users import CrmUser
from app.spreadsheets.importing import run_import
from app.spreadsheets.reading import UnreadableFile

log = logging.getLogger(__name__)


def _claim(batch_id: int) -> bool:
    """Queued → running in one UPDATE: a second run of the same job finds nothing to do."""
    claimed = db.session.execute(
        update(ImportBatch)
        .where(ImportBatch.id == batch_id, ImportBatch.state == ImportState.QUEUED)
        .values(state=ImportState.RUNNING)
    ).rowcount
    db.session.commit()
    return claimed == 1


@in_app_context
def import_clients(batch_id: int, user_id: int) -> str:
    if not _claim(batch_id):
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


def enqueue_import(batch: ImportBatch, user_id: int) -> None:
    """Mark the import queued (the caller commits first) and hand it to the worker."""
    job_queue().enqueue(
        import_clients, batch.id, user_id, job_id=f"import-{batch.id}-{int(utcnow().timestamp())}", job_timeout=3600
    )
