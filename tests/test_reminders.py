"""Reminders in the web UI and their e-mail, sent in-process to the real SMTP server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.domain import reminders as reminder_domain
from app.extensions import db
from app.jobs.reminders import send_reminder
from app.models import AgentEvent, CrmUser, Delivery, Reminder
from app.models.stamps import utcnow
from tests.conftest import csrf_token
from tests.factories import make_organization, make_request


@pytest.fixture(autouse=True)
def _empty_mailbox(smtp):
    smtp.clear()
    yield
    smtp.clear()


def user(username: str) -> CrmUser:
    return db.session.scalars(select(CrmUser).where(CrmUser.username == username)).one()


def make_reminder(owner: str, text: str, due_at: datetime, **about) -> int:
    reminder = reminder_domain.create_reminder(db.session, user(owner), text, due_at, **about)
    db.session.commit()
    return reminder.id


def test_manager_sets_a_reminder_from_a_request_row(app, manager_client):
    with app.app_context():
        request_id = make_request(make_organization("ООО «Напомни»")).id
    form = f"/reminders/new?request={request_id}"
    page = manager_client.get(form).get_data(as_text=True)
    assert "По запросу" in page and "ООО «Напомни»" in page
    answer = manager_client.post(
        form,
        data={
            "csrf_token": csrf_token(manager_client, form),
            "text": "Перезвонить главному инженеру",
            "due": "2030-06-01T09:30",
            "request_id": str(request_id),
        },
    )
    assert answer.status_code == 302
    with app.app_context():
        reminder = db.session.scalars(select(Reminder)).one()
        assert reminder.request_id == request_id and reminder.organization_id is None
        assert reminder.owner.username == "ivanov"
        # 09:30 in Moscow (UTC+3) is 06:30 UTC.
        assert reminder_domain.as_utc(reminder.due_at) == datetime(2030, 6, 1, 6, 30, tzinfo=UTC)
    listing = manager_client.get("/reminders/").get_data(as_text=True)
    assert "Перезвонить главному инженеру" in listing and "01.06.2030 09:30" in listing


def test_quick_choice_tomorrow_morning_and_a_personal_reminder(app, manager_client):
    form = "/reminders/new"
    manager_client.post(
        form,
        data={
            "csrf_token": csrf_token(manager_client, form),
            "text": "Купить ежедневник",
            "preset": "tomorrow_morning",
        },
    )
    with app.app_context():
        reminder = db.session.scalars(select(Reminder)).one()
        assert reminder.organization_id is None and reminder.request_id is None
        local = reminder_domain.as_utc(reminder.due_at).astimezone(reminder_domain.user_zone(user("ivanov")))
        assert (local.hour, local.minute) == (9, 0)
        assert local.date() == (utcnow().astimezone(local.tzinfo) + timedelta(days=1)).date()


def test_reminder_without_text_or_time_is_refused_with_a_message(app, manager_client):
    form = "/reminders/new"
    page = manager_client.post(form, data={"csrf_token": csrf_token(manager_client, form), "text": "", "due": ""})
    assert "Обязательное поле" in page.get_data(as_text=True) or "This field is required" in page.get_data(as_text=True)
    page = manager_client.post(
        form, data={"csrf_token": csrf_token(manager_client, form), "text": "x", "due": "2030-02-30T10:00"}
    )
    assert page.status_code == 200
    with app.app_context():
        assert db.session.scalar(select(Reminder.id)) is None


def test_reminder_for_a_client_she_cannot_see_is_404(app, client):
    from tests.conftest import login

    login(client, "petrova")
    with app.app_context():
        foreign = make_organization("ООО «Чужой»", responsible=user("sidorov")).id
    assert client.get(f"/reminders/new?organization={foreign}").status_code == 404


@pytest.mark.parametrize(
    ("zone", "local", "expected_utc"),
    [
        # In the future: a time already gone is refused. Summer time in 2027 starts on 28 March.
        ("Europe/Moscow", "2027-12-01T09:00", datetime(2027, 12, 1, 6, 0, tzinfo=UTC)),
        ("Europe/Berlin", "2027-03-27T09:00", datetime(2027, 3, 27, 8, 0, tzinfo=UTC)),  # CET, UTC+1
        ("Europe/Berlin", "2027-03-28T09:00", datetime(2027, 3, 28, 7, 0, tzinfo=UTC)),  # CEST since 02:00
    ],
)
def test_times_are_entered_in_the_users_zone_and_fire_at_the_right_utc_instant(
    app, manager_client, zone, local, expected_utc
):
    with app.app_context():
        user("ivanov").timezone = zone
        db.session.commit()
    try:
        form = "/reminders/new"
        manager_client.post(form, data={"csrf_token": csrf_token(manager_client, form), "text": "Звонок", "due": local})
        with app.app_context():
            reminder = db.session.scalars(select(Reminder)).one()
            assert reminder_domain.as_utc(reminder.due_at) == expected_utc
            lease = app.config["REMINDER_CLAIM_LEASE_SECONDS"]
            assert reminder_domain.claim(db.session, reminder.id, expected_utc - timedelta(seconds=1), lease) is None
            assert reminder_domain.claim(db.session, reminder.id, expected_utc, lease) is not None
    finally:
        with app.app_context():
            user("ivanov").timezone = None
            db.session.commit()


def test_due_reminder_is_emailed_once_with_subject_body_link_and_stable_message_id(app, smtp):
    with app.app_context():
        request = make_request(make_organization("ООО «Северный завод»"))
        request_id = request.id
        reminder_id = make_reminder(
            "ivanov", "позвонить клиенту по КП", utcnow() - timedelta(seconds=1), request=request
        )
        assert send_reminder(reminder_id) == "sent"
        assert send_reminder(reminder_id) == "not due or taken"
        reminder = db.session.get(Reminder, reminder_id)
        assert reminder.delivery == Delivery.SENT and reminder.sent_at is not None
        due_stamp = int(reminder_domain.as_utc(reminder.due_at).timestamp())
        [event] = db.session.scalars(select(AgentEvent).where(AgentEvent.kind == "reminder")).all()
        assert event.recipient_id == reminder.owner_id and "позвонить клиенту по КП" in event.message
    [message] = smtp.wait_for(1, timeout=5)
    assert message["To"] == "ivanov@example.ru"
    assert message["Subject"] == "Напоминание: позвонить клиенту по КП"
    assert message["Message-ID"] == f"<reminder-{reminder_id}-{due_stamp}@zaptrade.test>"
    body = message.get_content()
    assert "позвонить клиенту по КП" in body and "ООО «Северный завод»" in body
    assert f"{app.config['PUBLIC_URL']}/requestview/show/{request_id}" in body


def test_a_reminder_not_yet_due_or_already_done_is_not_sent(app, smtp):
    with app.app_context():
        future = make_reminder("ivanov", "потом", utcnow() + timedelta(hours=1))
        done = make_reminder("ivanov", "уже сделал", utcnow() - timedelta(minutes=1))
        reminder_domain.mark_done(db.session.get(Reminder, done))
        db.session.commit()
        assert send_reminder(future) == "not due or taken"
        assert send_reminder(done) == "not due or taken"
    assert smtp.wait_for(1, timeout=1) == []


def test_smtp_failure_is_retried_then_shown_as_failed_with_the_reason(app, smtp, manager_client):
    with app.app_context():
        reminder_id = make_reminder("ivanov", "отправить счёт", utcnow() - timedelta(seconds=1))
        port = app.extensions["mail"].port
        app.extensions["mail"].port = 1  # nothing listens there
        delays = app.config["REMINDER_RETRY_DELAYS"]
        app.config["REMINDER_RETRY_DELAYS"] = [0.0]
        try:
            assert send_reminder(reminder_id).startswith("failed")
            assert db.session.get(Reminder, reminder_id, populate_existing=True).delivery == Delivery.PENDING
            assert send_reminder(reminder_id).startswith("failed")
            reminder = db.session.get(Reminder, reminder_id, populate_existing=True)
            assert reminder.delivery == Delivery.FAILED and "ConnectionRefusedError" in reminder.last_error
        finally:
            app.extensions["mail"].port = port
            app.config["REMINDER_RETRY_DELAYS"] = delays
    page = manager_client.get("/reminders/").get_data(as_text=True)
    # The manager reads the reason in words; the technical text is the administrator's (test_reliability).
    assert "Письмо не отправлено" in page and "почтовый сервер недоступен" in page and "Отправить снова" in page
    assert "ConnectionRefusedError" not in page
    token = csrf_token(manager_client, "/reminders/")
    manager_client.post(f"/reminders/{reminder_id}/resend", data={"csrf_token": token})
    with app.app_context():
        assert send_reminder(reminder_id) == "sent"
    assert len(smtp.wait_for(1, timeout=5)) == 1


def test_the_signal_counts_todays_and_overdue_open_reminders(app, manager_client):
    with app.app_context():
        make_reminder("ivanov", "просрочено", utcnow() - timedelta(days=1))
        make_reminder("ivanov", "сегодня", utcnow() + timedelta(minutes=1))
        make_reminder("ivanov", "через неделю", utcnow() + timedelta(days=7))
        make_reminder("petrova", "чужое", utcnow())
        done = make_reminder("ivanov", "сделано", utcnow())
        reminder_domain.mark_done(db.session.get(Reminder, done))
        db.session.commit()
    page = manager_client.get("/organizationview/list/").get_data(as_text=True)
    assert 'Мои напоминания <span class="badge crm-due-count">2</span>' in page


def test_done_and_moved_reminders(app, manager_client, smtp):
    with app.app_context():
        first = make_reminder("ivanov", "первое", utcnow() - timedelta(minutes=5))
        second = make_reminder("ivanov", "второе", utcnow() - timedelta(minutes=5))
    token = csrf_token(manager_client, "/reminders/")
    manager_client.post(f"/reminders/{first}/done", data={"csrf_token": token})
    manager_client.post(f"/reminders/{second}/move", data={"csrf_token": token, "preset": "in_an_hour"})
    with app.app_context():
        assert db.session.get(Reminder, first).done_at is not None
        moved = db.session.get(Reminder, second)
        assert reminder_domain.as_utc(moved.due_at) > utcnow() + timedelta(minutes=55)
        assert send_reminder(second) == "not due or taken"


def test_a_manager_sees_only_his_reminders_and_the_administrator_everyones(app, client):
    from tests.conftest import api_token, login

    with app.app_context():
        make_reminder("ivanov", "иваново", utcnow())
        petrova_reminder = make_reminder("petrova", "петровское", utcnow())
    login(client, "ivanov")
    page = client.get("/reminders/").get_data(as_text=True)
    assert "иваново" in page and "петровское" not in page
    assert (
        client.post(
            f"/reminders/{petrova_reminder}/done", data={"csrf_token": csrf_token(client, "/reminders/")}
        ).status_code
        == 404
    )
    headers = {"Authorization": f"Bearer {api_token(client, 'ivanov')}"}
    assert [r["text"] for r in client.get("/api/v1/reminder/", headers=headers).get_json()["result"]] == ["иваново"]
    assert client.get(f"/api/v1/reminder/{petrova_reminder}", headers=headers).status_code == 404
    fresh = app.test_client()  # no session cookie: the token alone says who calls
    admin = {"Authorization": f"Bearer {api_token(fresh, 'admin')}"}
    assert fresh.get("/api/v1/reminder/", headers=admin).get_json()["count"] == 2


def test_reminder_api_creates_for_the_caller(app, client):
    from tests.conftest import api_token

    headers = {"Authorization": f"Bearer {api_token(client, 'petrova')}"}
    answer = client.post(
        "/api/v1/reminder/", json={"text": "API", "due_at": "2030-01-01T06:00:00+00:00"}, headers=headers
    )
    assert answer.status_code == 201, answer.get_json()
    with app.app_context():
        reminder = db.session.get(Reminder, answer.get_json()["id"])
        assert reminder.owner.username == "petrova" and reminder.delivery == Delivery.PENDING
        assert reminder_domain.as_utc(reminder.next_attempt_at) == datetime(2030, 1, 1, 6, 0, tzinfo=UTC)


def test_the_reminders_page_names_the_time_zone_by_its_city_and_offset(app, manager_client):
    page = manager_client.get("/reminders/").get_data(as_text=True)
    assert "Москва (UTC+3)" in page and "Europe/Moscow" not in page
    form = manager_client.get("/reminders/new").get_data(as_text=True)
    assert "Москва (UTC+3)" in form and "Europe/Moscow" not in form


def test_zone_labels_in_russian_and_english(app):
    from zoneinfo import ZoneInfo

    from app.formatting import zone_label

    with app.test_request_context("/?_l_=ru"):
        assert zone_label(ZoneInfo("Asia/Yekaterinburg")) == "Екатеринбург (UTC+5)"
        assert zone_label("UTC") == "UTC"
        assert zone_label("Asia/Kolkata") == "Калькутта (UTC+5:30)"
    with app.test_request_context("/?_l_=en"):
        assert zone_label(ZoneInfo("Asia/Yekaterinburg")) == "Yekaterinburg (UTC+5)"
        assert zone_label("America/Sao_Paulo") == "São Paulo (UTC\u22123)"
