"""Deletions a user expects to be refused, and what goes with an allowed one.

An organisation with requests is never deleted (for the administrator too): the answer names how
many requests hold it. Without requests its contacts and reminders go with it. A user with any
history is never deleted (his name would vanish from every history line): he is deactivated.
"""

from __future__ import annotations

import re

from flask import Flask
from sqlalchemy import func, select

from app import accounts
from app.domain.reminders import create_reminder
from app.extensions import db
from app.models import Contact, CrmUser, Organization, Reminder, Request
from app.models.events import AgentEvent
from app.models.stamps import utcnow
from app.models.users import RecordScope
from tests.conftest import PASSWORD, api_token, csrf_token, login
from tests.factories import make_organization, make_request

REFUSAL = "У организации есть запросы (2): удалите или перенесите их сначала"


def _user(username: str) -> CrmUser:
    return db.session.scalars(select(CrmUser).where(CrmUser.username == username)).one()


def _organization_with_two_requests(app: Flask) -> int:
    with app.app_context(), app.test_request_context():
        petrova = _user("petrova")
        organization = make_organization("ООО «Держатель»", responsible=petrova, contacts=[{"full_name": "Держимов"}])
        make_request(organization, responsible=petrova, author=petrova)
        make_request(organization, responsible=petrova, author=petrova)
        return organization.id


def _flashes(page: str) -> list[str]:
    return [" ".join(m.split()) for m in re.findall(r'(?s)<div class="alert[^"]*">(.*?)</div>', page)]


def _still_there(app: Flask, pk: int) -> None:
    with app.app_context():
        assert db.session.get(Organization, pk) is not None
        assert db.session.scalar(select(func.count(Request.id)).where(Request.organization_id == pk)) == 2
        assert db.session.scalar(select(func.count(Contact.id)).where(Contact.organization_id == pk)) == 1


def test_the_administrator_is_told_why_an_organisation_with_requests_stays(app, admin_client):
    pk = _organization_with_two_requests(app)
    show = f"/organizationview/show/{pk}"
    admin_client.get(show)
    answer = admin_client.post(
        f"/organizationview/delete/{pk}",
        data={"csrf_token": csrf_token(admin_client, "/organizationview/list/")},  # the delete button is on the list
        headers={"Referer": f"http://localhost{show}"},
    )
    assert answer.status_code == 302 and answer.headers["Location"] == show  # back to the page he was on
    page = admin_client.get(answer.headers["Location"]).get_data(as_text=True)
    assert any(REFUSAL in flash for flash in _flashes(page)), _flashes(page)
    _still_there(app, pk)


def test_rest_delete_of_an_organisation_with_requests_answers_409_with_the_reason(app, client):
    pk = _organization_with_two_requests(app)
    for username in ("admin", "petrova"):
        headers = {"Authorization": f"Bearer {api_token(client, username)}"}
        answer = client.delete(f"/api/v1/organization/{pk}", headers=headers)
        assert answer.status_code == 409, answer.get_data(as_text=True)
        assert answer.get_json() == {"message": REFUSAL}
    _still_there(app, pk)


def test_there_is_no_bulk_delete_that_could_bypass_the_refusal(app, admin_client):
    pk = _organization_with_two_requests(app)
    token = csrf_token(admin_client, "/organizationview/list/")
    answer = admin_client.post(
        "/organizationview/action_post", data={"action": "muldelete", "rowid": str(pk), "csrf_token": token}
    )
    assert answer.status_code == 404
    _still_there(app, pk)


def _organization_without_requests(app: Flask) -> tuple[int, int]:
    with app.app_context(), app.test_request_context():
        petrova = _user("petrova")
        organization = make_organization(
            "ООО «Пустышка»", responsible=petrova, contacts=[{"full_name": "Пустов"}, {"full_name": "Пустова"}]
        )
        reminder = create_reminder(db.session, petrova, "позвонить Пустову", utcnow(), organization=organization)
        db.session.commit()
        return organization.id, reminder.id


def _gone_with_its_contacts_and_reminders(app: Flask, pk: int, reminder_id: int) -> None:
    with app.app_context():
        assert db.session.get(Organization, pk) is None
        assert db.session.scalar(select(func.count(Contact.id)).where(Contact.organization_id == pk)) == 0
        assert db.session.get(Reminder, reminder_id) is None
        assert db.session.scalar(select(func.count(AgentEvent.id)).where(AgentEvent.reminder_id == reminder_id)) == 0


def test_an_organisation_without_requests_goes_with_its_contacts_and_reminders(app, client):
    pk, reminder_id = _organization_without_requests(app)
    login(client, "petrova")
    token = csrf_token(client, "/organizationview/list/")
    answer = client.post(f"/organizationview/delete/{pk}", data={"csrf_token": token})
    assert answer.status_code == 302
    _gone_with_its_contacts_and_reminders(app, pk, reminder_id)
    pk, reminder_id = _organization_without_requests(app)
    headers = {"Authorization": f"Bearer {api_token(client, 'petrova')}"}
    assert client.delete(f"/api/v1/organization/{pk}", headers=headers).status_code == 200
    _gone_with_its_contacts_and_reminders(app, pk, reminder_id)


# --- Users: deletion refused while he has history; deactivation instead ---


def _manager_with_history(app: Flask, client, username: str) -> tuple[int, int]:
    with app.app_context():
        user = accounts.create_manager(
            username, PASSWORD, f"{username}@example.ru", "Кузьма", "Козлов", RecordScope.OWN
        )
        user_id = user.id
    headers = {"Authorization": f"Bearer {api_token(client, username)}"}
    organization = client.post("/api/v1/organization/", json={"name": f"ООО «{username}»"}, headers=headers)
    assert organization.status_code == 201, organization.get_json()
    request = client.post("/api/v1/request/", json={"organization": organization.get_json()["id"]}, headers=headers)
    assert request.status_code == 201, request.get_json()
    request_id = request.get_json()["id"]
    status = client.post(
        f"/api/v1/request/{request_id}/status",
        json={"status": "in_progress", "comment": "созвонились"},
        headers=headers,
    )
    assert status.status_code == 200
    return user_id, request_id


def test_a_manager_with_history_is_not_deleted_and_history_keeps_his_name(app, client):
    user_id, request_id = _manager_with_history(app, client, "kozlov_html")
    login(client, "admin")
    answer = client.post(f"/users/delete/{user_id}", data={"csrf_token": csrf_token(client, "/users/list/")})
    assert answer.status_code == 302
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert any("снимите флажок «Активен?»" in flash for flash in _flashes(page)), _flashes(page)
    with app.app_context():
        assert db.session.get(CrmUser, user_id) is not None
    card = client.get(f"/requestview/show/{request_id}").get_data(as_text=True)
    assert "созвонились" in card and "Козлов" in card


def test_rest_delete_of_a_user_with_history_answers_409(app, client):
    user_id, _ = _manager_with_history(app, client, "kozlov_api")
    headers = {"Authorization": f"Bearer {api_token(client, 'admin')}"}
    answer = client.delete(f"/api/v1/security/users/{user_id}", headers=headers)
    assert answer.status_code == 409, answer.get_data(as_text=True)
    assert "Активен?" in answer.get_json()["message"]
    with app.app_context():
        assert db.session.get(CrmUser, user_id) is not None


def test_a_user_without_history_may_still_be_deleted(app, client):
    with app.app_context():
        user_id = accounts.create_manager(
            "novichok", PASSWORD, "novichok@example.ru", "Нил", "Новичков", RecordScope.OWN
        ).id
    login(client, "admin")
    answer = client.post(f"/users/delete/{user_id}", data={"csrf_token": csrf_token(client, "/users/list/")})
    assert answer.status_code == 302
    with app.app_context():
        assert db.session.get(CrmUser, user_id) is None


def test_the_openapi_description_lists_the_refusals(app, client):
    headers = {"Authorization": f"Bearer {api_token(client, 'admin')}"}
    spec = client.get("/api/v1/_openapi", headers=headers).get_json()
    for path, methods in [
        ("/organization/{pk}", ("put", "delete")),
        ("/contact/", ("post",)),
        ("/request/{pk}", ("put",)),
        ("/security/users/{pk}", ("delete",)),
    ]:
        for method in methods:
            responses = spec["paths"][f"/api/v1{path}"][method]["responses"]
            assert {"403", "409", "404" if "{pk}" in path else "400"} <= set(map(str, responses)), (path, method)


def test_an_unknown_action_on_the_user_and_role_screens_answers_404(app, client):
    login(client, "admin")
    for screen in ("users", "roles"):
        token = csrf_token(client, f"/{screen}/list/")
        answer = client.post(f"/{screen}/action_post", data={"action": "bogus", "rowid": "1", "csrf_token": token})
        assert answer.status_code == 404, screen
    assert client.get("/users/list/").status_code == 200
