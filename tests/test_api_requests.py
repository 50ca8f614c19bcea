"""/api/v1/request/: the same request life through the REST API with a JWT."""

from __future__ import annotations

from datetime import date

from tests.factories import make_organization


def test_request_life_through_the_api(app, client, manager_api):
    with app.app_context():
        org_id = make_organization("ООО «АПИ-Завод»").id
    created = client.post(
        "/api/v1/request/", json={"organization": org_id, "contract_price": "99000.00"}, headers=manager_api
    )
    assert created.status_code == 201, created.get_json()
    pk = created.get_json()["id"]

    items = [
        {"equipment_type": "Система очистки", "name": "OUUT", "subname": "X2-200", "capacity": "227", "quantity": 2},
        {"equipment_type": "Насос", "name": "Grundfos"},
    ]
    assert client.put(f"/api/v1/request/{pk}/items", json={"items": items}, headers=manager_api).status_code == 200
    status = client.post(
        f"/api/v1/request/{pk}/status", json={"status": "in_progress", "comment": "КП отправлено"}, headers=manager_api
    )
    assert status.status_code == 200 and status.get_json()["status"] == "in_progress"
    delivery = client.post(
        f"/api/v1/request/{pk}/delivery",
        json={"delivery_status": "shipped", "comment": "Отгрузка 28.11"},
        headers=manager_api,
    )
    assert delivery.get_json()["delivery_status"] == "shipped"
    assert (
        client.post(f"/api/v1/request/{pk}/comments", json={"text": "Ждём оплату"}, headers=manager_api).status_code
        == 200
    )

    shown = client.get(f"/api/v1/request/{pk}", headers=manager_api).get_json()["result"]
    assert shown["number"] == f"{date.today().year}-0001"
    assert shown["status"] == "in_progress" and shown["delivery_status"] == "shipped"
    assert [item["name"] for item in shown["items"]] == ["OUUT", "Grundfos"]
    assert shown["responsible"]["username"] == "ivanov"
    assert shown["organization"]["name"] == "ООО «АПИ-Завод»"


def test_api_refuses_bad_changes_with_field_messages(app, client, manager_api):
    with app.app_context():
        org_id = make_organization("ООО Ошибки").id
    pk = client.post("/api/v1/request/", json={"organization": org_id}, headers=manager_api).get_json()["id"]
    no_comment = client.post(f"/api/v1/request/{pk}/status", json={"status": "stalled"}, headers=manager_api)
    assert no_comment.status_code == 422 and "comment" in no_comment.get_json()["message"]
    bad_status = client.post(
        f"/api/v1/request/{pk}/status", json={"status": "lost", "comment": "x"}, headers=manager_api
    )
    assert bad_status.status_code == 422 and "status" in bad_status.get_json()["message"]
    no_items = client.put(f"/api/v1/request/{pk}/items", json={"items": []}, headers=manager_api)
    assert no_items.status_code == 422
    not_json = client.post(f"/api/v1/request/{pk}/comments", data="text", headers=manager_api)
    assert not_json.status_code == 400
    assert client.post("/api/v1/request/424242/comments", json={"text": "x"}, headers=manager_api).status_code == 404


def test_api_lists_requests_by_status(app, client, manager_api):
    import prison

    with app.app_context():
        org_id = make_organization("ООО Список").id
    first = client.post("/api/v1/request/", json={"organization": org_id}, headers=manager_api).get_json()["id"]
    client.post("/api/v1/request/", json={"organization": org_id}, headers=manager_api)
    client.post(f"/api/v1/request/{first}/status", json={"status": "stalled", "comment": "пауза"}, headers=manager_api)
    query = prison.dumps({"filters": [{"col": "status", "opr": "eq", "value": "stalled"}]})
    rows = client.get(f"/api/v1/request/?q={query}", headers=manager_api).get_json()["result"]
    assert [row["id"] for row in rows] == [first]
