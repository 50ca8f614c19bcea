"""Pages cost the same number of SQL statements however many rows they show: no query per row.

Each page is fetched with few rows and with many; the statements the second fetch runs (after a
warm-up, so that one-time loads do not count) must be the same in number. The rows are written by a
fixed set of users, so that a user loaded once per page is not mistaken for a query per row.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select

from app.domain import reminders as reminder_domain
from app.domain.requests import add_comment, build_items, change_delivery, change_status
from app.extensions import db
from app.models import CrmUser, DeliveryStatus, Organization, Request, RequestStatus
from app.models.stamps import utcnow
from tests.conftest import api_token, login
from tests.factories import make_organization, make_request

FEW, MANY = 3, 25


def user(username: str) -> CrmUser:
    return db.session.scalars(select(CrmUser).where(CrmUser.username == username)).one()


@contextmanager
def recorded_statements(app: Flask) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_connection, _cursor, statement, _parameters, _context, _executemany) -> None:
        statements.append(" ".join(statement.split())[:160])

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def statements_of(app: Flask, client: FlaskClient, url: str, headers: dict | None = None) -> list[str]:
    assert client.get(url, headers=headers).status_code == 200  # warm-up
    with recorded_statements(app) as statements:
        answer = client.get(url, headers=headers)
    assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
    return statements


def add_clients(first: int, last: int) -> None:
    """Clients `first`..`last`-1: two contacts, two requests, a reminder about each request and the
    client, all of ivanov's and petrova's making."""
    ivanov, petrova = user("ivanov"), user("petrova")
    due = utcnow() + timedelta(days=3)
    for i in range(first, last):
        organization = make_organization(
            f"ООО «Клиент {i:02d}»",
            contacts=[
                {"full_name": f"Иванов Пётр {i:02d}", "work_phone": f"+7 (495) 100-{i:02d}-01", "is_primary": True},
                {"full_name": f"Петрова Анна {i:02d}", "mobile_phone": f"+7 916 200-{i:02d}-02"},
            ],
            responsible=(ivanov, petrova)[i % 2],
        )
        for k in range(2):
            request = make_request(organization, responsible=(ivanov, petrova)[k], author=petrova)
            reminder_domain.create_reminder(db.session, ivanov, f"Позвонить {i}-{k}", due, request=request)
        reminder_domain.create_reminder(db.session, ivanov, f"Написать {i}", due, organization=organization)
    db.session.commit()


LIST_PAGES = [
    pytest.param("/organizationview/list/", id="organisations list"),
    pytest.param("/contactview/list/", id="contacts list"),
    pytest.param("/requestview/list/", id="requests list"),
    pytest.param("/requestview/list/?status=preparing_offer", id="requests list by status"),
    pytest.param("/organizationview/list/?q=клиент", id="organisations quick search"),
    pytest.param("/reminders/", id="reminders page"),
    # The start page «Сегодня» and the board «Воронка».
    pytest.param("/", id="start page"),
    pytest.param("/board/", id="board"),
    pytest.param("/board/column/preparing_offer?offset=5", id="board show more"),
    pytest.param("/reports/?from=2000-01-01&to=2100-12-31", id="report"),
]


@pytest.mark.parametrize("url", LIST_PAGES)
def test_list_page_runs_as_many_queries_for_many_rows_as_for_few(app, client, url):
    login(client, "ivanov")
    with app.app_context():
        add_clients(0, FEW)
    few = statements_of(app, client, url)
    with app.app_context():
        add_clients(FEW, MANY)
    many = statements_of(app, client, url)
    assert len(many) == len(few), "\n".join(many)


@pytest.mark.parametrize("as_manager", [False, True], ids=["department", "a manager's day"])
def test_the_admins_start_page_runs_as_many_queries_for_many_rows_as_for_few(app, client, as_manager):
    login(client, "admin")
    with app.app_context():
        url = f"/?manager={user('petrova').id}" if as_manager else "/"
        add_clients(0, FEW)
        overdue = utcnow() - timedelta(hours=1)
        for request in db.session.scalars(select(Request)):  # due today: the reminders block has rows
            reminder_domain.create_reminder(db.session, user("petrova"), "Сегодня", overdue, request=request)
        db.session.commit()
    few = statements_of(app, client, url)
    with app.app_context():
        add_clients(FEW, MANY)
        for request in db.session.scalars(select(Request)):
            reminder_domain.create_reminder(db.session, user("petrova"), "Сегодня", overdue, request=request)
        db.session.commit()
    many = statements_of(app, client, url)
    assert "Сегодня" in client.get(url).get_data(as_text=True)
    assert len(many) == len(few), "\n".join(many)


def test_agent_feed_runs_as_many_queries_for_many_events_as_for_few(app, client):
    headers = {"Authorization": f"Bearer {api_token(client, 'ivanov')}"}
    cursor = client.get("/api/v1/agent/events", headers=headers).get_json()["cursor"]
    url = f"/api/v1/agent/events?after={cursor}"
    with app.app_context():
        add_clients(0, FEW)
    few = statements_of(app, client, url, headers)
    with app.app_context():
        add_clients(FEW, MANY)
    many = statements_of(app, client, url, headers)
    assert len(client.get(url, headers=headers).get_json()["events"]) == 2 * MANY
    assert len(many) == len(few), "\n".join(many)


def grow_organisation(organization_id: int, contacts: int, requests: int) -> None:
    ivanov, petrova = user("ivanov"), user("petrova")
    organization = db.session.get(Organization, organization_id)
    start = len(organization.contacts)
    for i in range(start, start + contacts):
        organization.contacts.append(
            type(organization.contacts[0])(full_name=f"Сотрудник {i:02d}", work_phone=f"+7 495 300-00-{i:02d}")
        )
    db.session.commit()
    for k in range(requests):
        make_request(organization, responsible=(ivanov, petrova)[k % 2], author=(ivanov, petrova)[k % 2])


def test_organisation_page_runs_as_many_queries_for_many_contacts_and_requests_as_for_few(app, client):
    login(client, "ivanov")
    with app.app_context():
        add_clients(0, 1)
        organization_id = db.session.scalars(select(Organization.id)).one()
    url = f"/organizationview/show/{organization_id}"
    few = statements_of(app, client, url)
    with app.app_context():
        grow_organisation(organization_id, contacts=12, requests=MANY)
    many = statements_of(app, client, url)
    assert len(many) == len(few), "\n".join(many)


def grow_request(request_id: int, times: int) -> None:
    """Items, status and delivery changes and comments, by ivanov and petrova in turn."""
    authors = (user("ivanov"), user("petrova"))
    request = db.session.get(Request, request_id)
    request.items = build_items([{"equipment_type": "Насос", "name": f"КМ-{i}"} for i in range(times)])
    statuses = [RequestStatus.IN_PROGRESS, RequestStatus.STALLED]
    deliveries = [DeliveryStatus.PREPARING_SHIPMENT, DeliveryStatus.NOT_STARTED]
    for i in range(times):
        author = authors[i % 2]
        change_status(request, statuses[(i + (request.status == statuses[0])) % 2], f"Причина {i}", author)
        change_delivery(request, deliveries[(i + (request.delivery_status == deliveries[0])) % 2], f"{i}", author)
        add_comment(request, f"Комментарий {i}", author)
    db.session.commit()


def test_request_page_runs_as_many_queries_for_a_long_history_as_for_a_short_one(app, client):
    login(client, "ivanov")
    with app.app_context():
        add_clients(0, 1)
        request_id = db.session.scalars(select(Request.id).order_by(Request.id)).first()
        grow_request(request_id, 2)
    url = f"/requestview/show/{request_id}"
    few = statements_of(app, client, url)
    with app.app_context():
        grow_request(request_id, MANY)
    many = statements_of(app, client, url)
    assert len(many) == len(few), "\n".join(many)


@contextmanager
def loaded_organisations(app: Flask) -> Iterator[list[int]]:
    """Ids of the Organization objects the ORM builds from rows meanwhile."""
    loaded: list[int] = []

    def record(target, _context) -> None:
        loaded.append(target.id)

    event.listen(Organization, "load", record)
    try:
        yield loaded
    finally:
        event.remove(Organization, "load", record)


@pytest.mark.parametrize(
    ("url", "rows"),
    [
        pytest.param("/organizationview/list/", 25, id="organisations list"),
        pytest.param("/contactview/list/", 25, id="contacts list"),
        pytest.param("/requestview/list/", 25, id="requests list"),
    ],
)
def test_list_page_loads_no_more_organisations_than_it_shows_rows(app, client, url, rows):
    """A page of 25 rows must not read the whole client base, whatever its size."""
    login(client, "ivanov")
    with app.app_context():
        add_clients(0, rows + 10)
    client.get(url)
    with loaded_organisations(app) as loaded:
        assert client.get(url).status_code == 200
    assert len(set(loaded)) <= rows
