"""The REST API of the client base, with a JWT from /api/v1/security/login."""

from __future__ import annotations

import prison

from tests.factories import make_organization


def test_api_requires_a_token(client):
    assert client.get("/api/v1/organization/").status_code == 401


def test_manager_creates_and_reads_an_organization_with_a_contact(client, manager_api):
    created = client.post(
        "/api/v1/organization/",
        json={"name": "ООО «Литейный завод»", "city": "Липецк", "inn": "4823000000"},
        headers=manager_api,
    )
    assert created.status_code == 201, created.get_json()
    org_id = created.get_json()["id"]
    contact = client.post(
        "/api/v1/contact/",
        json={"organization": org_id, "full_name": "Григорьев Павел", "mobile_phone": "+7 (910) 123-45-67"},
        headers=manager_api,
    )
    assert contact.status_code == 201, contact.get_json()
    shown = client.get(f"/api/v1/organization/{org_id}", headers=manager_api).get_json()["result"]
    assert shown["name"] == "ООО «Литейный завод»"
    assert shown["responsible"]["username"] == "ivanov"
    assert [c["full_name"] for c in shown["contacts"]] == ["Григорьев Павел"]


def test_api_quick_search_finds_by_contact_phone(app, client, manager_api):
    with app.app_context():
        make_organization("ООО Найди", contacts=[{"full_name": "Фёдоров", "work_phone": "8 (383) 222-33-44"}])
        make_organization("ООО Не найди")
    query = prison.dumps({"filters": [{"col": "search_text", "opr": "qs", "value": "3832223344"}]})
    answer = client.get(f"/api/v1/organization/?q={query}", headers=manager_api)
    assert answer.status_code == 200, answer.get_json()
    assert [row["name"] for row in answer.get_json()["result"]] == ["ООО Найди"]


def test_api_refuses_duplicate_name_and_bad_email_with_messages(app, client, manager_api):
    with app.app_context():
        make_organization("ООО Ромашка")
    answer = client.post("/api/v1/organization/", json={"name": "ооо ромашка", "email": "bad"}, headers=manager_api)
    assert answer.status_code == 422
    messages = answer.get_json()["message"]
    assert messages["name"] == ["Организация «ООО Ромашка» уже существует."]
    assert messages["email"] == ["Неверный адрес электронной почты, пример: name@company.ru."]


def test_api_answers_in_english_when_asked(app, client, manager_api):
    answer = client.post(
        "/api/v1/organization/?_l_=en", json={"name": "ООО Ок", "notes": "a\x00b"}, headers=manager_api
    )
    assert answer.status_code == 422
    assert answer.get_json()["message"]["notes"] == ["Contains invisible control characters; please retype the text."]


def test_api_refuses_malformed_json(client, manager_api):
    answer = client.post(
        "/api/v1/organization/", data="{not json", headers={**manager_api, "Content-Type": "application/json"}
    )
    assert answer.status_code == 400


def test_openapi_spec_is_served(client, manager_api):
    spec = client.get("/api/v1/_openapi", headers=manager_api)
    assert spec.status_code == 200
    paths = spec.get_json()["paths"]
    assert "/api/v1/organization/" in paths and "/api/v1/contact/" in paths
