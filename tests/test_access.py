"""The leak matrix: a manager with scope "own" reaches a colleague's record by no path.

Петрова (scope "own") is responsible for «Свой клиент» and its request, and for one request of
«Общий клиент» (whose organisation is Сидоров's). Сидоров's «Чужой клиент», its contact, request,
comment and document must answer 404 on every path, through the session and through the API,
and never show up in a list, count, search or dropdown.
"""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select, update
from werkzeug.datastructures import FileStorage

from app.domain.reminders import create_reminder
from app.domain.requests import add_comment, attach_document
from app.extensions import db
from app.files import store_upload
from app.models import AgentDevice, Contact, CrmUser, Organization, Reminder, Request, RequestComment, RequestDocument
from app.models.stamps import utcnow
from tests.conftest import PASSWORD, api_token, csrf_token, login
from tests.factories import make_organization, make_request

SECRET_NAMES = ["Чужой клиент", "Чужаков", "secret-equipment", "secret-comment", "secret.pdf", "secret-reminder"]


def _user(username: str) -> CrmUser:
    return db.session.scalars(select(CrmUser).where(CrmUser.username == username)).one()


@pytest.fixture
def world(app: Flask) -> dict[str, int | str]:
    with app.app_context(), app.test_request_context():
        petrova, sidorov = _user("petrova"), _user("sidorov")
        foreign = make_organization(
            "ООО «Чужой клиент»",
            responsible=sidorov,
            contacts=[{"full_name": "Чужаков Игорь", "mobile_phone": "+7 916 000-00-01"}],
        )
        foreign_request = make_request(
            foreign, items=[{"equipment_type": "secret-equipment"}], responsible=sidorov, author=sidorov
        )
        add_comment(foreign_request, "secret-comment", sidorov)
        foreign_reminder = create_reminder(db.session, sidorov, "secret-reminder", utcnow(), organization=foreign)
        stored = store_upload(FileStorage(io.BytesIO(b"%PDF-1.4 secret"), filename="secret.pdf"))
        attach_document(foreign_request, stored, sidorov)
        db.session.commit()
        own = make_organization("ООО «Свой клиент»", responsible=petrova, contacts=[{"full_name": "Своев Павел"}])
        own_request = make_request(own, responsible=petrova, author=petrova)
        shared = make_organization("ООО «Общий клиент»", responsible=sidorov, contacts=[{"full_name": "Общий Олег"}])
        shared_request = make_request(shared, responsible=petrova, author=petrova)
        return {
            "org": foreign.id,
            "contact": foreign.contacts[0].id,
            "request": foreign_request.id,
            "document": foreign_request.documents[0].id,
            "reminder": foreign_reminder.id,
            "request_number": foreign_request.number,
            "own_org": own.id,
            "own_request": own_request.id,
            "own_request_number": own_request.number,
            "shared_org": shared.id,
            "shared_contact": shared.contacts[0].id,
            "own_contact": own.contacts[0].id,
            "shared_request": shared_request.id,
            "shared_request_number": shared_request.number,
        }


@pytest.fixture
def petrova(client):
    login(client, "petrova")
    return client


def assert_no_secret(body: str) -> None:
    for name in SECRET_NAMES:
        assert name not in body


# Every path that takes a record id, with the colleague's record: (endpoint, method, url).
RECORD_PATHS = [
    ("OrganizationView.show", "GET", "/organizationview/show/{org}"),
    ("OrganizationView.edit", "GET", "/organizationview/edit/{org}"),
    ("OrganizationView.edit", "POST", "/organizationview/edit/{org}"),
    ("OrganizationView.delete", "POST", "/organizationview/delete/{org}"),
    ("OrganizationView.card", "GET", "/organizationview/card/{org}"),
    ("OrganizationView.action", "POST", "/organizationview/action/muldelete/{org}"),
    ("OrganizationView.action_post", "POST", "/organizationview/action_post"),
    ("OrganizationView.download", "GET", "/organizationview/download/{document}"),
    ("ContactView.show", "GET", "/contactview/show/{contact}"),
    ("ContactView.edit", "GET", "/contactview/edit/{contact}"),
    ("ContactView.edit", "POST", "/contactview/edit/{contact}"),
    ("ContactView.delete", "POST", "/contactview/delete/{contact}"),
    ("ContactView.action", "POST", "/contactview/action/muldelete/{contact}"),
    ("ContactView.action_post", "POST", "/contactview/action_post"),
    ("ContactView.download", "GET", "/contactview/download/{document}"),
    ("RequestView.show", "GET", "/requestview/show/{request}"),
    ("RequestView.edit", "GET", "/requestview/edit/{request}"),
    ("RequestView.edit", "POST", "/requestview/edit/{request}"),
    ("RequestView.delete", "POST", "/requestview/delete/{request}"),
    ("RequestView.change_status", "POST", "/requestview/status/{request}"),
    ("RequestView.change_delivery", "POST", "/requestview/delivery/{request}"),
    ("RequestView.add_comment", "POST", "/requestview/comment/{request}"),
    ("RequestView.upload", "POST", "/requestview/upload/{request}"),
    ("RequestView.download", "GET", "/requestview/document/{document}"),
    ("RequestView.action", "POST", "/requestview/action/muldelete/{request}"),
    ("RequestView.action_post", "POST", "/requestview/action_post"),
    ("OrganizationRequestsView.show", "GET", "/organizationrequestsview/show/{request}"),
    ("OrganizationRequestsView.edit", "GET", "/organizationrequestsview/edit/{request}"),
    ("OrganizationRequestsView.edit", "POST", "/organizationrequestsview/edit/{request}"),
    ("OrganizationRequestsView.delete", "POST", "/organizationrequestsview/delete/{request}"),
    ("OrganizationRequestsView.change_status", "POST", "/organizationrequestsview/status/{request}"),
    ("OrganizationRequestsView.change_delivery", "POST", "/organizationrequestsview/delivery/{request}"),
    ("OrganizationRequestsView.add_comment", "POST", "/organizationrequestsview/comment/{request}"),
    ("OrganizationRequestsView.upload", "POST", "/organizationrequestsview/upload/{request}"),
    ("OrganizationRequestsView.download", "GET", "/organizationrequestsview/document/{document}"),
    ("OrganizationRequestsView.action", "POST", "/organizationrequestsview/action/muldelete/{request}"),
    ("OrganizationRequestsView.action_post", "POST", "/organizationrequestsview/action_post"),
    ("RemindersView.new", "GET", "/reminders/new?organization={org}"),
    ("RemindersView.new", "GET", "/reminders/new?request={request}"),
    ("RemindersView.new", "POST", "/reminders/new?organization={org}"),
    ("RemindersView.done", "POST", "/reminders/{reminder}/done"),
    ("RemindersView.move", "POST", "/reminders/{reminder}/move"),
    ("RemindersView.resend", "POST", "/reminders/{reminder}/resend"),
]

API_PATHS = [
    ("OrganizationApi.get", "GET", "/api/v1/organization/{org}"),
    ("OrganizationApi.put", "PUT", "/api/v1/organization/{org}"),
    ("OrganizationApi.delete", "DELETE", "/api/v1/organization/{org}"),
    ("ContactApi.get", "GET", "/api/v1/contact/{contact}"),
    ("ContactApi.put", "PUT", "/api/v1/contact/{contact}"),
    ("ContactApi.delete", "DELETE", "/api/v1/contact/{contact}"),
    ("RequestApi.get", "GET", "/api/v1/request/{request}"),
    ("RequestApi.put", "PUT", "/api/v1/request/{request}"),
    ("RequestApi.delete", "DELETE", "/api/v1/request/{request}"),
    ("RequestApi.post_status", "POST", "/api/v1/request/{request}/status"),
    ("RequestApi.post_delivery", "POST", "/api/v1/request/{request}/delivery"),
    ("RequestApi.post_comment", "POST", "/api/v1/request/{request}/comments"),
    ("RequestApi.replace_items", "PUT", "/api/v1/request/{request}/items"),
    ("ReminderApi.get", "GET", "/api/v1/reminder/{reminder}"),
    ("ReminderApi.put", "PUT", "/api/v1/reminder/{reminder}"),
    ("ReminderApi.delete", "DELETE", "/api/v1/reminder/{reminder}"),
]

FORM_BODY = {
    "name": "ООО «Захвачено»",
    "full_name": "Захватов",
    "status": "dead",
    "delivery_status": "delivered",
    "comment": "hijack",
    "action": "muldelete",
    "equipment-0-equipment_type": "hijack",
    "organization": "{own_org}",
    "organization_id": "{org}",
    "text": "hijack",
    "preset": "in_an_hour",
}
API_BODY = {
    "name": "ООО «Захвачено»",
    "full_name": "Захватов",
    "status": "dead",
    "delivery_status": "delivered",
    "comment": "hijack",
    "text": "hijack",
    "items": [{"equipment_type": "hijack"}],
}


def _unchanged(app: Flask, world: dict) -> None:
    with app.app_context():
        request = db.session.get(Request, world["request"])
        assert request is not None and request.status == "preparing_offer" and request.delivery_status == "not_started"
        assert [item.equipment_type for item in request.items] == ["secret-equipment"]
        assert db.session.get(Organization, world["org"]).name == "ООО «Чужой клиент»"
        assert db.session.get(Contact, world["contact"]).full_name == "Чужаков Игорь"
        assert db.session.scalar(select(func.count(RequestComment.id))) == 1
        assert db.session.scalar(select(func.count(RequestDocument.id))) == 1
        reminder = db.session.scalars(select(Reminder)).one()
        assert reminder.text == "secret-reminder" and reminder.done_at is None and reminder.attempts == 0


@pytest.mark.parametrize(("endpoint", "method", "url"), RECORD_PATHS, ids=[f"{m} {u}" for _, m, u in RECORD_PATHS])
def test_session_paths_answer_404_for_a_colleagues_record(app, petrova, world, endpoint, method, url):
    url = url.format(**world)
    data = {key: value.format(**world) for key, value in FORM_BODY.items()}
    data["csrf_token"] = csrf_token(petrova, "/organizationview/add")
    data["rowid"] = str(
        world["org"] if "organization" in url else world["contact"] if "contact" in url else world["request"]
    )
    data["file"] = (io.BytesIO(b"%PDF-1.4"), "x.pdf")
    answer = petrova.get(url) if method == "GET" else petrova.post(url, data=data, content_type="multipart/form-data")
    assert answer.status_code == 404, (endpoint, answer.status_code)
    assert_no_secret(answer.get_data(as_text=True))
    _unchanged(app, world)


@pytest.mark.parametrize(("endpoint", "method", "url"), API_PATHS, ids=[f"{m} {u}" for _, m, u in API_PATHS])
def test_api_paths_answer_404_for_a_colleagues_record(app, client, world, endpoint, method, url):
    headers = {"Authorization": f"Bearer {api_token(client, 'petrova')}"}
    answer = client.open(url.format(**world), method=method, json=API_BODY, headers=headers)
    assert answer.status_code == 404, (endpoint, answer.status_code, answer.get_data(as_text=True)[:300])
    assert_no_secret(answer.get_data(as_text=True))
    _unchanged(app, world)


def test_lists_counts_and_searches_show_exactly_her_rows(app, petrova, world):
    organizations = petrova.get("/organizationview/list/").get_data(as_text=True)
    assert "Свой клиент" in organizations and "Общий клиент" in organizations
    assert_no_secret(organizations)
    assert organizations.count('class="crm-row"') == 2
    requests = petrova.get("/requestview/list/").get_data(as_text=True)
    assert world["own_request_number"] in requests and world["shared_request_number"] in requests
    assert world["request_number"] not in requests
    assert_no_secret(requests)
    assert '<span class="badge">2</span>' in requests  # the "All" status link counts only her two
    contacts = petrova.get("/contactview/list/").get_data(as_text=True)
    assert "Своев" in contacts and "Общий Олег" in contacts
    assert_no_secret(contacts)
    for term in ["Чужой", "Чужаков", "9160000001", "secret"]:
        # The page repeats the typed term in the search box; what matters is that no row is found.
        for url in ["/organizationview/list/", "/requestview/list/"]:
            found = petrova.get(url, query_string={"q": term}).get_data(as_text=True)
            assert found.count('class="crm-row"') == 0, (url, term)
    stalled = petrova.get("/organizationview/list/", query_string={"request_status": "preparing_offer"})
    assert_no_secret(stalled.get_data(as_text=True))
    for url in ["/organizationview/search_panel/", "/contactview/search_panel/", "/requestview/search_panel/"]:
        panel = petrova.get(url)  # the lists' search forms: filters and the choices of related fields
        assert panel.status_code == 200 and 'id="filter_form"' in panel.get_data(as_text=True)
        assert_no_secret(panel.get_data(as_text=True))


def test_her_start_page_and_board_show_only_her_records(app, petrova, world):
    with app.app_context():
        sidorov_id = _user("sidorov").id
        db.session.execute(update(Request).values(last_activity_at=utcnow() - timedelta(days=60)))
        db.session.commit()
    for url in [
        "/",
        f"/?manager={sidorov_id}",  # only the administrator may look as a colleague
        "/board/",
        f"/board/?responsible={sidorov_id}",
        "/board/?q=secret",
        "/board/column/preparing_offer",
        f"/requestview/list/?attention=stalled&responsible={sidorov_id}",
    ]:
        answer = petrova.get(url)
        assert answer.status_code == 200, url
        body = answer.get_data(as_text=True)
        assert_no_secret(body)
        assert world["request_number"] not in body, url
    for url in ["/", "/board/", "/board/column/preparing_offer"]:
        body = petrova.get(url).get_data(as_text=True)
        assert world["own_request_number"] in body and world["shared_request_number"] in body, url


def test_shared_organization_page_shows_only_her_request(app, petrova, world):
    page = petrova.get(f"/organizationview/show/{world['shared_org']}").get_data(as_text=True)
    assert world["shared_request_number"] in page
    assert world["request_number"] not in page


def test_form_dropdowns_offer_only_her_clients_and_herself(app, petrova, world):
    form = petrova.get("/requestview/add").get_data(as_text=True)
    assert "Свой клиент" in form and "Общий клиент" in form
    assert_no_secret(form)
    assert "Петрова" in form and "Сидоров" not in form and "Иванов" not in form
    contact_form = petrova.get("/contactview/add").get_data(as_text=True)
    assert_no_secret(contact_form)
    search = petrova.get("/contactview/list/").get_data(as_text=True)
    assert_no_secret(search)


def test_api_lists_and_info_show_exactly_her_rows(app, client, world):
    headers = {"Authorization": f"Bearer {api_token(client, 'petrova')}"}
    organizations = client.get("/api/v1/organization/", headers=headers).get_json()
    assert sorted(row["name"] for row in organizations["result"]) == ["ООО «Общий клиент»", "ООО «Свой клиент»"]
    assert organizations["count"] == 2
    requests = client.get("/api/v1/request/", headers=headers).get_json()
    assert sorted(row["id"] for row in requests["result"]) == sorted([world["own_request"], world["shared_request"]])
    contacts = client.get("/api/v1/contact/", headers=headers).get_json()
    assert_no_secret(str(contacts))
    for resource in ["request", "contact", "organization", "reminder"]:
        info = client.get(f"/api/v1/{resource}/_info", headers=headers)
        assert info.status_code == 200
        assert_no_secret(info.get_data(as_text=True))
        assert "sidorov" not in info.get_data(as_text=True) and "Сидоров" not in info.get_data(as_text=True)


def test_she_cannot_attach_records_to_a_colleagues_client_or_hand_hers_away(app, client, world):
    headers = {"Authorization": f"Bearer {api_token(client, 'petrova')}"}
    contact = client.post(
        "/api/v1/contact/", json={"organization": world["org"], "full_name": "Подкидыш"}, headers=headers
    )
    assert contact.status_code in (400, 422)
    request = client.post("/api/v1/request/", json={"organization": world["org"]}, headers=headers)
    assert request.status_code in (400, 422)
    with app.app_context():
        sidorov_id = _user("sidorov").id
    handed = client.put(f"/api/v1/organization/{world['own_org']}", json={"responsible": sidorov_id}, headers=headers)
    assert handed.status_code == 403 and "коллегу" in handed.get_json()["message"]
    created_for_colleague = client.post(
        "/api/v1/organization/", json={"name": "ООО Подарок", "responsible": sidorov_id}, headers=headers
    )
    assert created_for_colleague.status_code == 403
    with app.app_context():
        assert db.session.get(Organization, world["own_org"]).responsible.username == "petrova"
        assert db.session.scalar(select(Contact.id).where(Contact.full_name == "Подкидыш")) is None
        assert db.session.scalar(select(Organization.id).where(Organization.name == "ООО Подарок")) is None
        assert db.session.scalar(select(func.count(Request.id))) == 3
    for about in ({"organization": world["org"]}, {"request": world["request"]}):
        reminder = client.post(
            "/api/v1/reminder/", json={"text": "x", "due_at": "2030-01-01T00:00:00+00:00", **about}, headers=headers
        )
        assert reminder.status_code in (400, 422), reminder.get_json()


# --- Writes on a shared client (a colleague's organisation she sees through her own request) ---
# The rule is app/access.py's module docstring: she may add her own requests and reminders there,
# nothing else. A refused REST write answers 403 with the reason; an HTML one returns to the
# record's page with the reason flashed. Either way the colleague's data is unchanged.
SHARED_CLIENT_API_WRITES = [
    ("edit its notes", "PUT", "/api/v1/organization/{shared_org}", {"notes": "moved to me"}),
    ("take it over", "PUT", "/api/v1/organization/{shared_org}", {"responsible": "{petrova_id}"}),
    ("leave it without a responsible", "PUT", "/api/v1/organization/{shared_org}", {"responsible": None}),
    ("delete it", "DELETE", "/api/v1/organization/{shared_org}", None),
    ("add a contact", "POST", "/api/v1/contact/", {"organization": "{shared_org}", "full_name": "Подкидыш"}),
    ("edit its contact", "PUT", "/api/v1/contact/{shared_contact}", {"full_name": "Захватов"}),
    ("move her contact there", "PUT", "/api/v1/contact/{own_contact}", {"organization": "{shared_org}"}),
    ("delete its contact", "DELETE", "/api/v1/contact/{shared_contact}", None),
    ("leave her request without a responsible", "PUT", "/api/v1/request/{shared_request}", {"responsible": None}),
    ("hand her request to the colleague", "PUT", "/api/v1/request/{shared_request}", {"responsible": "{sidorov_id}"}),
]
SHARED_CLIENT_FORM_WRITES = [
    ("open its edit form", "GET", "/organizationview/edit/{shared_org}", {}),
    ("edit it", "POST", "/organizationview/edit/{shared_org}", {"name": "ООО «Общий клиент»", "notes": "x"}),
    (
        "take it over",
        "POST",
        "/organizationview/edit/{shared_org}",
        {"name": "ООО «Общий клиент»", "responsible": "{petrova_id}"},
    ),
    ("delete it", "POST", "/organizationview/delete/{shared_org}", {}),
    ("add a contact", "POST", "/contactview/add", {"organization": "{shared_org}", "full_name": "Подкидыш"}),
    (
        "add a contact from its row",
        "POST",
        "/contactview/add?_flt_0_organization={shared_org}",
        {"full_name": "Подкидыш"},
    ),
    ("open its contact's edit form", "GET", "/contactview/edit/{shared_contact}", {}),
    (
        "edit its contact",
        "POST",
        "/contactview/edit/{shared_contact}",
        {"organization": "{shared_org}", "full_name": "Захватов"},
    ),
    (
        "move her contact there",
        "POST",
        "/contactview/edit/{own_contact}",
        {"organization": "{shared_org}", "full_name": "Своев Павел"},
    ),
    ("delete its contact", "POST", "/contactview/delete/{shared_contact}", {}),
    (
        "leave her request without a responsible",
        "POST",
        "/requestview/edit/{shared_request}",
        {"organization": "{shared_org}", "responsible": "", "equipment-0-equipment_type": "Насос"},
    ),
]


def _ids(app: Flask, world: dict) -> dict:
    with app.app_context():
        return {**world, "petrova_id": _user("petrova").id, "sidorov_id": _user("sidorov").id}


def _filled(value, ids: dict):
    if isinstance(value, dict):
        return {key: _filled(item, ids) for key, item in value.items()}
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return ids[value[1:-1]]
    return value


def _shared_client_unchanged(app: Flask, world: dict) -> None:
    with app.app_context():
        shared = db.session.get(Organization, world["shared_org"])
        assert shared is not None and shared.name == "ООО «Общий клиент»" and shared.notes is None
        assert shared.responsible.username == "sidorov"
        assert [contact.full_name for contact in shared.contacts] == ["Общий Олег"]
        assert db.session.get(Contact, world["own_contact"]).organization_id == world["own_org"]
        assert db.session.get(Request, world["shared_request"]).responsible.username == "petrova"
        assert db.session.scalar(select(Contact.id).where(Contact.full_name == "Подкидыш")) is None


@pytest.mark.parametrize(
    ("what", "method", "url", "body"), SHARED_CLIENT_API_WRITES, ids=[w[0] for w in SHARED_CLIENT_API_WRITES]
)
def test_api_refuses_her_writes_on_a_colleagues_shared_client(app, client, world, what, method, url, body):
    ids = _ids(app, world)
    headers = {"Authorization": f"Bearer {api_token(client, 'petrova')}"}
    answer = client.open(url.format(**ids), method=method, json=_filled(body, ids), headers=headers)
    assert answer.status_code == 403, (what, answer.status_code, answer.get_data(as_text=True)[:300])
    message = answer.get_json()["message"]
    assert "коллег" in message or "ответственного" in message, message
    _shared_client_unchanged(app, world)
    _unchanged(app, world)


@pytest.mark.parametrize(
    ("what", "method", "url", "body"), SHARED_CLIENT_FORM_WRITES, ids=[w[0] for w in SHARED_CLIENT_FORM_WRITES]
)
def test_forms_refuse_her_writes_on_a_colleagues_shared_client(app, petrova, world, what, method, url, body):
    ids = _ids(app, world)
    url = url.format(**ids)
    if method == "GET":
        answer = petrova.get(url)
    else:
        data = {key: str(value) for key, value in _filled(body, ids).items()}
        data["csrf_token"] = csrf_token(petrova, "/organizationview/add")
        answer = petrova.post(url, data=data)
    assert answer.status_code in (200, 302), (what, answer.status_code)
    if answer.status_code == 302:
        assert "/edit/" not in answer.headers["Location"], what
    page = petrova.get(answer.headers["Location"]) if answer.status_code == 302 else answer
    text = page.get_data(as_text=True)
    # A colleague's client is not among a form's choices: a forged id reads as no choice at all.
    assert any(reason in text for reason in ("коллеги", "ответственного", "Обязательное поле")), what
    _shared_client_unchanged(app, world)
    _unchanged(app, world)


def test_she_may_add_her_own_request_and_reminder_on_a_shared_client(app, client, world):
    headers = {"Authorization": f"Bearer {api_token(client, 'petrova')}"}
    request = client.post("/api/v1/request/", json={"organization": world["shared_org"]}, headers=headers)
    assert request.status_code == 201, request.get_json()
    reminder = client.post(
        "/api/v1/reminder/",
        json={"text": "позвонить", "due_at": "2030-01-01T09:00:00+00:00", "organization": world["shared_org"]},
        headers=headers,
    )
    assert reminder.status_code == 201, reminder.get_json()
    with app.app_context():
        assert db.session.get(Request, request.get_json()["id"]).responsible.username == "petrova"
    _shared_client_unchanged(app, world)


def test_she_edits_her_own_client_and_the_admin_edits_the_shared_one(app, client, world):
    headers = {"Authorization": f"Bearer {api_token(client, 'petrova')}"}
    own = client.put(f"/api/v1/organization/{world['own_org']}", json={"city": "Тверь"}, headers=headers)
    assert own.status_code == 200, own.get_json()
    contact = client.post(
        "/api/v1/contact/", json={"organization": world["own_org"], "full_name": "Новиков"}, headers=headers
    )
    assert contact.status_code == 201, contact.get_json()
    admin = {"Authorization": f"Bearer {api_token(client, 'admin')}"}
    shared = client.put(f"/api/v1/organization/{world['shared_org']}", json={"city": "Тула"}, headers=admin)
    assert shared.status_code == 200, shared.get_json()
    with app.app_context():
        assert db.session.get(Organization, world["own_org"]).city == "Тверь"
        assert db.session.get(Organization, world["shared_org"]).city == "Тула"


def test_reminders_and_the_signal_are_hers_alone(app, petrova, world):
    page = petrova.get("/reminders/").get_data(as_text=True)
    assert_no_secret(page)
    assert "crm-due-count" not in page  # Сидоров's reminder due now is not counted for her
    headers = {"Authorization": f"Bearer {api_token(app.test_client(), 'petrova')}"}
    assert app.test_client().get("/api/v1/reminder/", headers=headers).get_json()["count"] == 0


def test_scope_all_and_the_administrator_see_everything(app, client, world):
    for username in ["ivanov", "admin"]:
        headers = {"Authorization": f"Bearer {api_token(client, username)}"}
        assert client.get("/api/v1/organization/", headers=headers).get_json()["count"] == 3
        assert client.get(f"/api/v1/request/{world['request']}", headers=headers).status_code == 200


ADMIN_ONLY_PREFIXES = (
    "/users/",
    "/roles/",
    "/permissions/",
    "/permissionviews/",
    "/viewmenus/",
    "/groups/",
    "/userstatschartview/",
    "/resetpassword/",
    "/catalogueentryview/",
    "/documentcategoryview/",
    "/api/v1/security/users",
    "/api/v1/security/roles",
    "/api/v1/security/groups",
    "/api/v1/security/permissions",
    "/api/v1/security/resources",
    # Backups: the page, its button and the archives' downloads hold every record (app/views/backups.py).
    "/backups/",
)
# Reminder reliability: the mail settings page and its test e-mail are the administrator's.
ADMIN_ONLY_PREFIXES += ("/mail-settings/",)
# The stalled radar's settings are the department's: the administrator's alone.
ADMIN_ONLY_PREFIXES += ("/radar-settings/",)
SELF_SERVICE = {
    "CrmUserDBModelView.userinfo",
    "ResetMyPasswordView.this_form_get",
    "ResetMyPasswordView.this_form_post",
    "UserInfoEditView.this_form_get",
    "UserInfoEditView.this_form_post",
}


def _admin_only_rules(app: Flask):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(ADMIN_ONLY_PREFIXES) and rule.endpoint not in SELF_SERVICE:
            yield rule


def test_managers_cannot_reach_user_or_security_administration(app, client):
    login(client, "petrova")
    token = {"Authorization": f"Bearer {api_token(client, 'petrova')}"}
    checked = 0
    for rule in _admin_only_rules(app):
        url = rule.rule
        for argument in rule.arguments:
            url = (
                url.replace(f"<int:{argument}>", "1").replace(f"<string:{argument}>", "x").replace(f"<{argument}>", "1")
            )
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            headers = token if url.startswith("/api/") else {}
            answer = client.open(url, method=method, headers=headers, json={} if method != "GET" else None)
            # 400: a form POST without a CSRF token is refused before anything else.
            assert answer.status_code in (302, 400, 401, 403, 404), (method, url, answer.status_code)
            if answer.status_code == 302:
                assert "/login" in answer.headers["Location"] or answer.headers["Location"].endswith("/"), url
            checked += 1
    assert checked > 80


# Endpoints that do not take a record of a client: why each is safe, or where it is tested.
NOT_RECORD_BOUND = {
    "static": "static files",
    "appbuilder.static": "FAB's static files",
    "health.health": "no data",
    "CrmIndexView.index": "test_her_start_page_and_board_show_only_her_records",
    "AuthDBView.login": "login",
    "AuthDBView.logout": "logout",
    "LocaleView.index": "language switch",
    "UtilView.back": "redirect to the previous page",
    "MenuApi.get_menu_data": "menu entries by permission",
    "OpenApi.get": "API description",
    "SwaggerView.show": "API description",
    "SecurityApi.login": "login",
    "SecurityApi.refresh": "token refresh",
    "CatalogueApi.suggest": "shared reference data: equipment names, no client or request",
    "OrganizationView.list": "test_lists_counts_and_searches_show_exactly_her_rows",
    "ContactView.list": "test_lists_counts_and_searches_show_exactly_her_rows",
    "RequestView.list": "test_lists_counts_and_searches_show_exactly_her_rows",
    "OrganizationRequestsView.list": "test_shared_organization_page_shows_only_her_request",
    "OrganizationView.search_panel": "test_lists_counts_and_searches_show_exactly_her_rows",
    "ContactView.search_panel": "test_lists_counts_and_searches_show_exactly_her_rows",
    "RequestView.search_panel": "test_lists_counts_and_searches_show_exactly_her_rows",
    "OrganizationRequestsView.search_panel": "same form as RequestView.search_panel",
    "OrganizationView.add": "test_form_dropdowns_offer_only_her_clients_and_herself",
    "ContactView.add": "test_form_dropdowns_offer_only_her_clients_and_herself",
    "RequestView.add": "test_form_dropdowns_offer_only_her_clients_and_herself",
    "OrganizationRequestsView.add": "same form as RequestView.add",
    "OrganizationApi.get_list": "test_api_lists_and_info_show_exactly_her_rows",
    "ContactApi.get_list": "test_api_lists_and_info_show_exactly_her_rows",
    "RequestApi.get_list": "test_api_lists_and_info_show_exactly_her_rows",
    "OrganizationApi.info": "test_api_lists_and_info_show_exactly_her_rows",
    "ContactApi.info": "test_api_lists_and_info_show_exactly_her_rows",
    "RequestApi.info": "test_api_lists_and_info_show_exactly_her_rows",
    "OrganizationApi.post": "test_she_cannot_attach_records_to_a_colleagues_client_or_hand_hers_away",
    "ReminderApi.post": "test_she_cannot_attach_records_to_a_colleagues_client_or_hand_hers_away",
    "ReminderApi.get_list": "test_reminders_and_the_signal_are_hers_alone",
    "ReminderApi.info": "test_api_lists_and_info_show_exactly_her_rows",
    "RemindersView.index": "test_reminders_and_the_signal_are_hers_alone",
    "AgentApi.events": "tests/test_agent_feed.py: the feed shows only what she may see",
    "AgentApi.get_settings": "her own settings",
    "AgentApi.put_settings": "her own settings",
    "AgentSettingsView.index": "her own settings",
    "ContactApi.post": "test_she_cannot_attach_records_to_a_colleagues_client_or_hand_hers_away",
    "RequestApi.post": "test_she_cannot_attach_records_to_a_colleagues_client_or_hand_hers_away",
    # Agent devices (per-device tokens, the «Агент» page, the download)
    "AgentApi.connect": "login: a password exchanged for a device token; test_a_device_token_opens_no_other_route",
    "AgentSettingsView.download": "the Agent program, no data; tests/test_agent_devices.py (logged-in users only)",
    "AgentSettingsView.disconnect": "test_she_cannot_disconnect_a_colleagues_agent",
    # The start page and the board (a card's move is RequestView.change_status, in RECORD_PATHS).
    "BoardView.index": "test_her_start_page_and_board_show_only_her_records",
    "BoardView.column": "test_her_start_page_and_board_show_only_her_records",
    # Reports: the administrator and scope "all" only.
    "ReportsView.index": "tests/test_reports.py::test_a_manager_with_own_scope_gets_no_reports",
    "ReportsView.xlsx": "tests/test_reports.py::test_a_manager_with_own_scope_gets_no_reports",
    # Excel export and import (app/views/export.py, app/views/imports.py)
    "OrganizationView.export": "test_her_exports_hold_exactly_her_rows",
    "ContactView.export": "test_her_exports_hold_exactly_her_rows",
    "RequestView.export": "test_her_exports_hold_exactly_her_rows",
    "OrganizationRequestsView.export": "test_her_exports_hold_exactly_her_rows",
    "RemindersView.export": "test_her_exports_hold_exactly_her_rows",
    "ImportView.index": "tests/test_spreadsheets_import.py::test_a_manager_with_scope_own_cannot_import",
    "ImportView.upload": "tests/test_spreadsheets_import.py::test_a_manager_with_scope_own_cannot_import",
    "ImportView.mapping": "tests/test_spreadsheets_import.py::test_imports_are_closed_to_others",
    "ImportView.show": "tests/test_spreadsheets_import.py::test_imports_are_closed_to_others",
    "ImportView.progress": "tests/test_spreadsheets_import.py::test_imports_are_closed_to_others",
    "ImportView.run": "tests/test_spreadsheets_import.py::test_imports_are_closed_to_others",
    "ImportView.undo": "tests/test_spreadsheets_import.py::test_imports_are_closed_to_others",
    "ImportView.errors": "tests/test_spreadsheets_import.py::test_imports_are_closed_to_others",
}


# Excel export: the file holds the rows of her list, never a colleague's.
def test_her_exports_hold_exactly_her_rows(app, petrova, world):
    import openpyxl

    with app.app_context():
        sidorov_id = _user("sidorov").id
    expected = {
        "/organizationview/export/": {"ООО «Свой клиент»", "ООО «Общий клиент»"},
        "/contactview/export/": {"Своев Павел", "Общий Олег"},
        "/requestview/export/": None,
        "/organizationrequestsview/export/": None,
        "/reminders/export/?everyone=1": set(),
        f"/reminders/export/?owner={sidorov_id}": set(),  # a colleague's reminders are the admin's to see
    }
    for url, first_column in expected.items():
        for export_format in ("xlsx", "csv", "csv-utf8"):
            answer = petrova.get(f"{url}{'&' if '?' in url else '?'}format={export_format}")
            assert answer.status_code == 200, (url, answer.status_code)
            if export_format == "xlsx":
                sheet = openpyxl.load_workbook(io.BytesIO(answer.data)).worksheets[0]
                rows = [[str(v) for v in row if v is not None] for row in sheet.iter_rows(min_row=2, values_only=True)]
                text = "\n".join(" ".join(row) for row in rows)
            else:
                text = answer.data.decode("cp1251" if export_format == "csv" else "utf-8-sig")
                rows = [line.split(";") for line in text.splitlines()[1:]]
            assert_no_secret(text)
            if first_column is not None:
                assert {row[0] for row in rows} == first_column, (url, export_format)
            else:
                numbers = {world["own_request_number"], world["shared_request_number"]}
                assert {row[1] for row in rows} == numbers, (url, export_format)


def test_every_route_is_in_the_leak_matrix(app):
    covered = {endpoint for endpoint, _, _ in RECORD_PATHS + API_PATHS}
    covered |= set(NOT_RECORD_BOUND) | SELF_SERVICE | {rule.endpoint for rule in _admin_only_rules(app)}
    missing = sorted({rule.endpoint for rule in app.url_map.iter_rules()} - covered)
    assert missing == [], "add these routes to the leak matrix in tests/test_access.py"


# --- Agent devices: a device token reads the feed and the settings, nothing else -------------------------------

DEVICE_TOKEN_ROUTES = {"AgentApi.events", "AgentApi.get_settings", "AgentApi.put_settings"}


def _device_token(client, username: str) -> str:
    answer = client.post(
        "/api/v1/agent/connect", json={"username": username, "password": PASSWORD, "device_name": "ПК"}
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()["token"]


def test_a_device_token_opens_no_other_route(app, world):
    """Every route and method refuses a device token as it refuses nobody at all (an API answers 401 or
    flask-jwt-extended's 422 "not a JWT"); what answers 2xx to the token answers 2xx to anybody."""
    client = app.test_client()
    token = {"Authorization": f"Bearer {_device_token(client, 'petrova')}"}
    checked = 0
    for rule in app.url_map.iter_rules():
        url = rule.rule
        for argument in rule.arguments:
            value = world["request"] if argument in ("pk", "id", "device_id") else "1"
            url = re.sub(rf"<(?:[a-z]+:)?{argument}>", str(value), url)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            body = {} if method != "GET" else None
            anonymous = app.test_client().open(url, method=method, json=body)
            with_token = app.test_client().open(url, method=method, json=body, headers=token)
            if rule.endpoint in DEVICE_TOKEN_ROUTES:
                assert with_token.status_code in (200, 400), (method, url, with_token.status_code)
                continue
            ok = with_token.status_code < 300
            assert not ok or anonymous.status_code < 300, (method, url, with_token.status_code)
            if anonymous.status_code in (401, 403):
                assert with_token.status_code in (401, 403, 422), (method, url, with_token.status_code)
            else:
                assert with_token.status_code == anonymous.status_code, (method, url, with_token.status_code)
            assert_no_secret(with_token.get_data(as_text=True))
            checked += 1
    assert checked > 150
    _unchanged(app, world)


def test_she_cannot_disconnect_a_colleagues_agent(app, client, world):
    his = {"Authorization": f"Bearer {_device_token(client, 'sidorov')}"}
    with app.app_context():
        device_id = db.session.scalars(select(AgentDevice)).one().id
    login(client, "petrova")
    answer = client.post(
        f"/agent-settings/devices/{device_id}/disconnect", data={"csrf_token": csrf_token(client, "/agent-settings/")}
    )
    assert answer.status_code == 404
    assert "ПК" not in client.get("/agent-settings/").get_data(as_text=True).split("crm-agent-devices")[0][-200:]
    assert client.get("/api/v1/agent/events", headers=his).status_code == 200
    with app.app_context():
        assert db.session.get(AgentDevice, device_id).revoked_on is None


# --- Smaller holes (issue «no unowned write», item 8) ---


def test_the_request_status_filter_looks_only_through_her_requests(app, petrova, world):
    """Сидоров's dead request on the shared client must not list that client under "dead" for her."""
    with app.app_context(), app.test_request_context():
        shared = db.session.get(Organization, world["shared_org"])
        make_request(shared, responsible=_user("sidorov"), author=_user("sidorov"), status="dead")
    dead = petrova.get("/organizationview/list/", query_string={"request_status": "dead"}).get_data(as_text=True)
    assert dead.count('class="crm-row"') == 0
    offered = petrova.get("/organizationview/list/", query_string={"request_status": "preparing_offer"})
    assert offered.get_data(as_text=True).count('class="crm-row"') == 2


@pytest.mark.parametrize(
    "url",
    [
        "/organizationview/delete/{org}",
        "/contactview/delete/{contact}",
        "/requestview/delete/{request}",
        "/organizationrequestsview/delete/{request}",
        "/organizationview/delete/999999",
        "/organizationview/delete/１",
        "/organizationview/delete/99999999999999999999",
    ],
)
def test_a_get_delete_of_a_record_out_of_reach_answers_404(app, petrova, world, url):
    answer = petrova.get(url.format(**world))
    assert answer.status_code == 404
    _unchanged(app, world)


def test_search_panels_offer_her_only_herself_as_responsible(app, petrova, world):
    for url in ["/organizationview/search_panel/", "/requestview/search_panel/"]:
        panel = petrova.get(url).get_data(as_text=True)
        # FAB writes the filters' choices as JSON in a script: names may come \u-escaped.
        shown = {name for name in ("Петрова", "Сидоров", "Иванов") if name in panel or json.dumps(name)[1:-1] in panel}
        assert shown == {"Петрова"}, (url, shown)
