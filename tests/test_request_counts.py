"""The requests list's status links count what the user may see, follow every change at once, and
are not recounted on every page (they are kept in Redis between changes)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import event, select

from app.extensions import db
from app.models import CrmUser, Request
from tests.conftest import api_token, csrf_token, login
from tests.factories import make_organization, make_request


def status_links(client) -> dict[str, int]:
    """{status code or "all": the number on its link}, as the user sees them on the requests list."""
    page = client.get("/requestview/list/").get_data(as_text=True)
    links = re.findall(
        r'<li class="[^"]*"><a href="/requestview/list/(?:\?status=(\w+))?"[^>]*>[^<]*<span class="badge">(\d+)</span>',
        page,
    )
    assert links, "no status links on the requests list"
    return {code or "all": int(number) for code, number in links}


def _user_id(username: str) -> int:
    return db.session.scalars(select(CrmUser.id).where(CrmUser.username == username)).one()


@pytest.fixture
def three_requests(app):
    with app.app_context():
        organization = make_organization("ООО «Счёт»")
        petrova = _user_id("petrova")
        pks = [make_request(organization, responsible_id=petrova).id for _ in range(2)]
        pks.append(make_request(organization, responsible_id=_user_id("ivanov")).id)
        return pks


def test_status_links_follow_each_change_at_once(app, client, three_requests):
    login(client, "admin")
    assert status_links(client)["all"] == 3
    assert status_links(client)["preparing_offer"] == 3

    pk = three_requests[0]
    show = f"/requestview/show/{pk}"
    client.post(
        f"/requestview/status/{pk}",
        data={"status": "stalled", "comment": "Ждём бюджет", "csrf_token": csrf_token(client, show)},
    )
    links = status_links(client)
    assert (links["all"], links["preparing_offer"], links["stalled"]) == (3, 2, 1)

    headers = {"Authorization": f"Bearer {api_token(client, 'admin')}"}
    with app.app_context():
        organization_id = db.session.get(Request, pk).organization_id
    assert client.post("/api/v1/request/", json={"organization": organization_id}, headers=headers).status_code == 201
    links = status_links(client)
    assert (links["all"], links["preparing_offer"], links["stalled"]) == (4, 3, 1)
    assert client.delete(f"/api/v1/request/{three_requests[1]}", headers=headers).status_code == 200
    links = status_links(client)
    assert (links["all"], links["preparing_offer"], links["stalled"]) == (3, 2, 1)


def test_a_manager_counts_only_his_requests_whoever_looked_before(app, client, three_requests):
    login(client, "admin")
    assert status_links(client)["all"] == 3
    client.get("/logout/")
    login(client, "petrova")
    assert status_links(client)["all"] == 2
    with app.app_context():  # handed to her colleague: her count drops, the administrator's stays
        db.session.get(Request, three_requests[0]).responsible_id = _user_id("ivanov")
        db.session.commit()
    assert status_links(client)["all"] == 1


def test_counts_are_not_recounted_between_changes(app, client, three_requests):
    login(client, "admin")
    status_links(client)
    with app.app_context():
        engine = db.engine
    statements: list[str] = []
    record = lambda _conn, _cursor, statement, *_args: statements.append(statement)  # noqa: E731
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert status_links(client)["all"] == 3
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert not [s for s in statements if "GROUP BY client_request.status" in s]


def test_without_redis_the_counts_are_still_right(app, client, three_requests, monkeypatch):
    login(client, "admin")
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:9/0")  # nothing listens there
    page = client.get("/requestview/list/")
    assert page.status_code == 200
    assert status_links(client)["all"] == 3
