"""The stalled radar: a periodic job that reminds a responsible once his request falls quiet.

Runs from PERIODIC_JOBS (app/jobs/schedule.py) when the administrator has switched it on
(«Настройки → Радар застоя», app/domain/department_settings.py). Each request is claimed atomically for its quiet spell
(app/domain/activity.py `claim_quiet_spell`), so two radars, or one run twice, never remind twice;
the reminder it writes is sent by the ordinary reminder sweep.
"""

from __future__ import annotations

import logging

from app.domain import activity, department_settings
from app.extensions import db
from app.jobs.context import in_app_context
from app.models.stamps import utcnow

log = logging.getLogger(__name__)
RADAR_BATCH = 1000


@in_app_context
def sweep_stalled_requests() -> int:
    """Give each newly quiet request's responsible one reminder; returns how many were given."""
    if not department_settings.radar_settings().reminders:
        return 0
    now = utcnow()
    ids = activity.quiet_request_ids(db.session, now, RADAR_BATCH)
    db.session.rollback()
    given = sum(1 for request_id in ids if activity.claim_quiet_spell(db.session, request_id, now) is not None)
    if given:
        log.info("stalled radar: %s reminders", given)
    return given
