"""The stalled radar's settings as the administrator set them on «Настройки → Радар застоя».

Every list, card, the board and the start page ask how many quiet days make a request stalled, so
the answer must cost no SQL on a page: the stored row is kept in Redis (written on each save, read
back from the database when missing or after CACHE_SECONDS) and once per request in `g`. Until the
administrator saves, the environment's defaults apply (STALLED_AFTER_DAYS, STALLED_RADAR_REMINDERS).
Without Redis the row is read from the database.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass

from flask import current_app, g, has_request_context
from redis.exceptions import RedisError
from sqlalchemy.orm import Session

from app.extensions import db, redis_connection
from app.models.settings import DepartmentSettings
from app.models.stamps import utcnow
from app.models.users import CrmUser

CACHE_KEY = "crm:department-settings"
# A save made while Redis was down could not replace the copy there: it is read anew this often.
CACHE_SECONDS = 600
ROW_ID = 1
MAX_STALLED_DAYS = 365
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RadarSettings:
    stalled_after_days: int
    reminders: bool
    changed_on: str | None = None  # ISO time of the administrator's last save; None: the defaults
    changed_by_id: int | None = None


def radar_settings() -> RadarSettings:
    """The settings in force now (the administrator's, or the environment's defaults)."""
    if has_request_context() and "crm_radar_settings" in g:
        return g.crm_radar_settings
    stored = _stored()
    settings = stored if stored is not None else _defaults()
    if has_request_context():
        g.crm_radar_settings = settings
    return settings


def save_radar_settings(session: Session, user: CrmUser | None, days: int, reminders: bool) -> RadarSettings:
    """Store the administrator's choice (committed) and put it where every process reads it."""
    if not 1 <= days <= MAX_STALLED_DAYS:
        raise ValueError(days)
    row = session.get(DepartmentSettings, ROW_ID) or DepartmentSettings(id=ROW_ID)
    row.stalled_after_days, row.stalled_radar_reminders = days, reminders
    row.changed_on, row.changed_by_id = utcnow(), user.id if user is not None else None
    session.add(row)
    session.commit()
    settings = _from_row(row)
    try:
        redis_connection().set(CACHE_KEY, json.dumps(settings.__dict__), ex=CACHE_SECONDS)
    except RedisError as error:  # the next read goes to the database
        log.warning("radar settings saved; Redis not updated (%s)", error)
        forget()
    if has_request_context():
        g.crm_radar_settings = settings
    return settings


def forget() -> None:
    """Drop the cached copy (after writes that bypass save_radar_settings, e.g. a restore)."""
    with contextlib.suppress(RedisError):
        redis_connection().delete(CACHE_KEY)
    if has_request_context():
        g.pop("crm_radar_settings", None)


def _stored() -> RadarSettings | None:
    try:
        cached = redis_connection().get(CACHE_KEY)
    except RedisError:
        cached = None
        redis_up = False
    else:
        redis_up = True
    if cached is not None:
        values = json.loads(cached)
        return RadarSettings(**values) if values else None
    row = db.session.get(DepartmentSettings, ROW_ID)
    settings = _from_row(row) if row is not None else None
    if redis_up:  # only if still absent: a save meanwhile has put the newer value there
        with contextlib.suppress(RedisError):
            copy = json.dumps(settings.__dict__ if settings else {})
            redis_connection().set(CACHE_KEY, copy, nx=True, ex=CACHE_SECONDS)
    return settings


def _from_row(row: DepartmentSettings) -> RadarSettings:
    return RadarSettings(
        stalled_after_days=row.stalled_after_days,
        reminders=bool(row.stalled_radar_reminders),
        changed_on=row.changed_on.isoformat() if row.changed_on else None,
        changed_by_id=row.changed_by_id,
    )


def _defaults() -> RadarSettings:
    config = current_app.config
    return RadarSettings(int(config["STALLED_AFTER_DAYS"]), bool(config["STALLED_RADAR_REMINDERS"]))
