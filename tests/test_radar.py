"""The stalled radar: one reminder per quiet spell for the responsible, however many radars run.

The claim is tested on its own, then with real worker and scheduler processes (tests/background.py),
two of each, with the radar job also enqueued over and over by hand.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import func, select, update

from app.domain import activity
from app.domain.requests import add_comment
from app.extensions import db
from app.jobs.context import QUEUE_NAME
from app.jobs.radar import sweep_stalled_requests
from app.models import CrmUser, Reminder, Request
from app.models.stamps import utcnow
from tests.background import Background, wait_until
from tests.factories import make_organization, make_request


def user(username: str) -> CrmUser:
    return db.session.scalars(select(CrmUser).where(CrmUser.username == username)).one()


def quiet_requests(count: int, days: float = 20, username: str = "petrova") -> list[int]:
    owner = user(username)
    organization = make_organization(f"ООО «Тихий {username} {days}»", responsible=owner)
    ids = [make_request(organization, responsible=owner, author=owner).id for _ in range(count)]
    db.session.execute(
        update(Request).where(Request.id.in_(ids)).values(last_activity_at=utcnow() - timedelta(days=days))
    )
    db.session.commit()
    return ids


def reminders_per_request() -> dict[int, int]:
    rows = db.session.execute(select(Reminder.request_id, func.count()).group_by(Reminder.request_id)).all()
    db.session.rollback()
    return dict(rows)


def test_the_claim_reminds_once_per_quiet_spell_and_again_after_new_activity(app):
    with app.app_context(), app.test_request_context():
        [quiet] = quiet_requests(1)
        [fresh] = quiet_requests(1, days=3)
        now = utcnow()
        assert activity.quiet_request_ids(db.session, now, 100) == [quiet]
        reminder = activity.claim_quiet_spell(db.session, quiet, now)
        assert reminder is not None and reminder.owner_id == user("petrova").id
        assert "без движения 20 дн." in reminder.text
        assert activity.claim_quiet_spell(db.session, quiet, now) is None  # the same spell: never twice
        assert activity.claim_quiet_spell(db.session, fresh, now) is None  # not past the line
        assert activity.quiet_request_ids(db.session, now, 100) == []
        # A comment ends the spell; twenty quiet days later a new spell earns a new reminder.
        add_comment(db.session.get(Request, quiet), "Созвонились", user("petrova"))
        db.session.commit()
        assert activity.claim_quiet_spell(db.session, quiet, utcnow()) is None
        later = utcnow() + timedelta(days=20)
        assert activity.claim_quiet_spell(db.session, quiet, later) is not None
        assert reminders_per_request() == {quiet: 2}


def test_the_radar_job_does_nothing_until_the_administrator_switches_it_on(app):
    with app.app_context():
        quiet_requests(2)
        assert app.config["STALLED_RADAR_REMINDERS"] is False
        assert sweep_stalled_requests() == 0
        app.config["STALLED_RADAR_REMINDERS"] = True
        try:
            assert sweep_stalled_requests() == 2
            assert sweep_stalled_requests() == 0
        finally:
            app.config["STALLED_RADAR_REMINDERS"] = False
        assert set(reminders_per_request().values()) == {1}


@pytest.fixture
def background(app, smtp, tmp_path):
    Redis.from_url(app.config["REDIS_URL"]).flushdb()
    smtp.clear()
    processes = Background(app, tmp_path, STALLED_RADAR_REMINDERS="1", STALLED_RADAR_SECONDS="1")
    yield processes
    processes.stop_all()
    smtp.clear()


def test_two_workers_and_two_schedulers_give_one_reminder_per_quiet_request(app, smtp, background):
    with app.app_context():
        ids = quiet_requests(15) + quiet_requests(5, username="sidorov")
        [fresh] = quiet_requests(1, days=2)
    background.start("worker")
    background.start("worker")
    background.start("scheduler")
    background.start("scheduler")
    queue = Queue(QUEUE_NAME, connection=Redis.from_url(app.config["REDIS_URL"]))
    for _ in range(6):  # extra runs side by side with the scheduled ones
        queue.enqueue(sweep_stalled_requests)
    with app.app_context():
        assert wait_until(lambda: len(reminders_per_request()) == len(ids), timeout=60), background.logs()
        time.sleep(4)  # the radar keeps running meanwhile: nothing more may come
        counts = reminders_per_request()
        assert counts == dict.fromkeys(ids, 1), background.logs()
        assert fresh not in counts
        owners = dict(db.session.execute(select(Reminder.request_id, Reminder.owner_id)).all())
        responsible = dict(db.session.execute(select(Request.id, Request.responsible_id)).all())
        assert all(owners[request_id] == responsible[request_id] for request_id in ids)
    # The reminders go out by the ordinary e-mail path, one each.
    messages = smtp.wait_for(len(ids), timeout=60)
    time.sleep(2)
    assert len(smtp.messages) == len(ids) == len(messages)
    assert sum("sidorov@example.ru" in m["To"] for m in smtp.messages) == 5
