"""The Agent's feed over the REST API: only what the caller may see and wants, oldest first."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, select

from app.domain import reminders as reminder_domain
from app.domain.requests import add_comment, change_delivery, change_status
from app.extensions import db
from app.jobs.reminders import send_reminder
from app.models import CrmUser, DeliveryStatus, RequestStatus
from app.models.stamps import utcnow
from tests.conftest import api_token
from tests.factories import make_organization, make_request


def user(username: str) -> CrmUser:
    return db.session.scalars(select(CrmUser).where(CrmUser.username == username)).one()


@pytest.fixture
def petrova_api(app):
    client = app.test_client()
    return client, {"Authorization": f"Bearer {api_token(client, 'petrova')}"}


def poll(client, headers, cursor):
    answer = client.get("/api/v1/agent/events", query_string={"after": cursor} if cursor else {}, headers=headers)
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    return body["events"], body["cursor"]


def test_feed_shows_her_requests_events_in_order_and_nothing_else(app, petrova_api):
    client, headers = petrova_api
    _, cursor = poll(client, headers, None)  # a new Agent starts from now
    with app.app_context():
        petrova, ivanov, sidorov = user("petrova"), user("ivanov"), user("sidorov")
        own = make_organization("ООО «Своя»", responsible=petrova)
        theirs = make_organization("ООО «Чужая»", responsible=sidorov)
        request = make_request(own, responsible=petrova, author=ivanov)
        foreign = make_request(theirs, responsible=sidorov, author=sidorov)
        change_status(request, RequestStatus.IN_PROGRESS, "КП отправлено", ivanov)
        change_delivery(request, DeliveryStatus.SHIPPED, "Отгрузили", ivanov)
        add_comment(request, "Клиент просит скидку", ivanov)
        add_comment(request, "Мой собственный комментарий", petrova)
        change_status(foreign, RequestStatus.STALLED, "секретная пауза", sidorov)
        db.session.commit()
        number = request.number
        reminder = reminder_domain.create_reminder(
            db.session, petrova, "Позвонить в «Свою»", utcnow() - timedelta(seconds=1)
        )
        other = reminder_domain.create_reminder(
            db.session, ivanov, "Чужое напоминание", utcnow() - timedelta(seconds=1)
        )
        db.session.commit()
        reminder_id, other_id = reminder.id, other.id
    with app.app_context():
        send_reminder(reminder_id)
        send_reminder(other_id)
    events, cursor = poll(client, headers, cursor)
    assert [e["kind"] for e in events] == [
        "request_created",
        "request_status",
        "delivery_status",
        "request_comment",
        "reminder",
    ]
    assert events[0]["title"] == f"Новый запрос {number}"
    assert "Иван Иванов" in events[0]["message"] and "ООО «Своя»" in events[0]["message"]
    assert events[1]["title"] == f"Запрос {number}: В работе" and "КП отправлено" in events[1]["message"]
    assert events[2]["title"] == f"Доставка {number}: Отгружено"
    assert "Клиент просит скидку" in events[3]["message"]
    assert events[4]["title"] == "Напоминание" and "Позвонить в «Свою»" in events[4]["message"]
    assert all("секрет" not in e["message"] and "Чужое" not in e["message"] for e in events)
    assert events[0]["url"].endswith(f"/requestview/show/{events[0]['url'].rsplit('/', 1)[1]}")
    again, _ = poll(client, headers, cursor)
    assert again == []


def test_switched_off_kinds_are_not_in_the_feed(app, petrova_api):
    client, headers = petrova_api
    answer = client.put("/api/v1/agent/settings", json={"kinds": {"request_status": False}}, headers=headers)
    assert answer.status_code == 200 and answer.get_json()["kinds"]["request_status"] is False
    _, cursor = poll(client, headers, None)
    with app.app_context():
        petrova, ivanov = user("petrova"), user("ivanov")
        request = make_request(
            make_organization("ООО «Тихая»", responsible=petrova), responsible=petrova, author=ivanov
        )
        change_status(request, RequestStatus.STALLED, "пауза", ivanov)
        add_comment(request, "комментарий", ivanov)
        db.session.commit()
    events, _ = poll(client, headers, cursor)
    assert [e["kind"] for e in events] == ["request_created", "request_comment"]
    client.put("/api/v1/agent/settings", json={"kinds": {"request_status": True}}, headers=headers)


def test_settings_page_in_the_web_ui_changes_the_same_settings(app, client):
    from tests.conftest import csrf_token, login

    login(client, "petrova")
    token = csrf_token(client, "/agent-settings/")
    client.post("/agent-settings/", data={"csrf_token": token, "reminder": "on", "poll_seconds": "60"})
    headers = {"Authorization": f"Bearer {api_token(app.test_client(), 'petrova')}"}
    settings = app.test_client().get("/api/v1/agent/settings", headers=headers).get_json()
    assert settings["poll_seconds"] == 60
    assert settings["kinds"] == {
        "request_created": False,
        "request_status": False,
        "delivery_status": False,
        "request_comment": False,
        "reminder": True,
    }
    bad = client.post("/agent-settings/", data={"csrf_token": token, "poll_seconds": "1"})
    assert "Интервал должен быть от 5 до 3600 секунд." in bad.get_data(as_text=True)
    app.test_client().put(
        "/api/v1/agent/settings",
        json={"kinds": dict.fromkeys(settings["kinds"], True), "poll_seconds": 30},
        headers=headers,
    )


def test_malformed_or_foreign_cursor_is_a_clear_400(app, petrova_api):
    client, headers = petrova_api
    for cursor in ["garbage", "v1.5.0000", "v1.99999999999999999999.abc"]:
        answer = client.get("/api/v1/agent/events", query_string={"after": cursor}, headers=headers)
        assert answer.status_code == 400 and "cursor" in answer.get_json()["message"]
    ivanov_client = app.test_client()
    ivanov = {"Authorization": f"Bearer {api_token(ivanov_client, 'ivanov')}"}
    _, ivanovs_cursor = poll(ivanov_client, ivanov, None)
    assert (
        client.get("/api/v1/agent/events", query_string={"after": ivanovs_cursor}, headers=headers).status_code == 400
    )


def test_a_long_backlog_comes_in_pages(app, petrova_api):
    client, headers = petrova_api
    _, cursor = poll(client, headers, None)
    with app.app_context():
        petrova, ivanov = user("petrova"), user("ivanov")
        request = make_request(
            make_organization("ООО «Болтливая»", responsible=petrova), responsible=petrova, author=ivanov
        )
        for n in range(150):
            add_comment(request, f"комментарий {n}", ivanov)
        db.session.commit()
    first, cursor = poll(client, headers, cursor)
    second, cursor = poll(client, headers, cursor)
    third, _ = poll(client, headers, cursor)
    assert (len(first), len(second), third) == (100, 51, [])
    assert [e["id"] for e in first + second] == sorted(e["id"] for e in first + second)


def test_a_poll_costs_one_event_query_whatever_it_returns(app, petrova_api):
    client, headers = petrova_api
    _, cursor = poll(client, headers, None)
    poll(client, headers, cursor)  # settings row created by now
    with app.app_context():
        engine = db.engine

    def statements_of_one_poll(after: str) -> tuple[list[str], list]:
        statements: list[str] = []

        def count(conn, cursor_, statement, *args):
            statements.append(statement)

        event.listen(engine, "before_cursor_execute", count)
        try:
            events, _ = poll(client, headers, after)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return statements, events

    empty, nothing = statements_of_one_poll(cursor)
    with app.app_context():
        petrova, ivanov = user("petrova"), user("ivanov")
        noisy = make_organization("ООО «Шумная»", responsible=petrova)
        request = make_request(noisy, responsible=petrova, author=ivanov)
        for n in range(60):
            add_comment(request, f"комментарий {n}", ivanov)
        db.session.commit()
    full, events = statements_of_one_poll(cursor)
    assert nothing == [] and len(events) == 61
    assert len(full) == len(empty)  # no per-event queries
    assert sum("FROM agent_event" in statement for statement in empty) == 1


def test_the_feed_needs_a_token(client):
    assert client.get("/api/v1/agent/events").status_code == 401
