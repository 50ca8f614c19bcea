"""The first hour of a new sales team, without a browser: a history that reads like a diary (human
headlines, only real changes, the responsible manager's changes named), past reminders refused, the
local date, and organisations sorted by their name without the legal form."""

from __future__ import annotations

import io

from sqlalchemy import select

from app.extensions import db
from app.models import AuditEntry, CrmUser, Organization, Request
from tests.conftest import csrf_token
from tests.factories import make_organization, make_request


def user_id(app, username: str) -> int:
    with app.app_context():
        return db.session.scalar(select(CrmUser.id).where(CrmUser.username == username))


def history_html(client, url: str) -> str:
    page = client.get(url)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    return html[html.index('id="history"') :]


def item_entries(app, request_id: int) -> list[AuditEntry]:
    with app.app_context():
        found = db.session.scalars(
            select(AuditEntry).where(AuditEntry.request_id == request_id, AuditEntry.entity == "item")
        ).all()
        db.session.expunge_all()
        return found


def request_form(app, request_id: int, **overrides) -> dict:
    with app.app_context():
        req = db.session.get(Request, request_id)
        data = {
            "organization": str(req.organization_id),
            "request_date": req.request_date.isoformat(),
            "responsible": str(req.responsible_id or ""),
            "currency": req.currency,
        }
        for index, item in enumerate(req.items):
            for field in ("equipment_type", "name", "subname", "capacity", "quantity"):
                data[f"equipment-{index}-{field}"] = str(getattr(item, field) or "")
    data.update(overrides)
    return data


def test_headlines_name_statuses_comments_documents_and_deliveries(app, manager_client):
    with app.app_context():
        request_id = make_request(make_organization("ООО «Хроника»")).id
    show = f"/requestview/show/{request_id}"
    token = csrf_token(manager_client, show)
    manager_client.post(
        f"/requestview/status/{request_id}", data={"status": "stalled", "comment": "Пауза", "csrf_token": token}
    )
    manager_client.post(
        f"/requestview/delivery/{request_id}",
        data={"delivery_status": "shipped", "comment": "Отгрузили", "csrf_token": token},
    )
    manager_client.post(f"/requestview/comment/{request_id}", data={"comment": "Звонил", "csrf_token": token})
    manager_client.post(
        f"/requestview/upload/{request_id}",
        data={"file": (io.BytesIO(b"%PDF-1.4\n"), "КП.pdf"), "purpose": "document", "csrf_token": token},
        content_type="multipart/form-data",
    )
    html = history_html(manager_client, show)
    assert "object at" not in html and "&lt;app." not in html
    assert "Статус: «Затормозилось»" in html
    assert "Статус доставки: «Отгружено»" in html
    assert "Добавлен комментарий" in html and "Звонил" in html
    assert "Документ «КП.pdf» прикреплён" in html
    assert "Позиция «Система очистки / OUUT» добавлена" in html


def test_saving_a_request_without_touching_items_records_nothing_for_them(app, manager_client):
    with app.app_context():
        request_id = make_request(
            make_organization("ООО «Без перемен»"),
            items=[
                {"equipment_type": "Насос", "name": "Grundfos"},
                {"equipment_type": "Система очистки", "name": "OUUT", "subname": "X2-200"},
            ],
        ).id
    before = item_entries(app, request_id)
    url = f"/requestview/edit/{request_id}"
    form = request_form(app, request_id, payment_terms="100% предоплата", csrf_token=csrf_token(manager_client, url))
    assert manager_client.post(url, data=form).status_code == 302
    assert len(item_entries(app, request_id)) == len(before)
    # A real change of one item is one «изменена» line with the changed field only.
    form = request_form(app, request_id, csrf_token=csrf_token(manager_client, url))
    form["equipment-1-subname"] = "X2-300"
    manager_client.post(url, data=form)
    after = item_entries(app, request_id)
    assert [e.action for e in after[len(before) :]] == ["update"]
    html = history_html(manager_client, f"/requestview/show/{request_id}")
    assert "Подназвание: X2-200 → X2-300" in html
    assert "Должность" not in html


def test_organisation_responsible_changes_by_form_are_named_in_the_history(app, admin_client):
    with app.app_context():
        org_id = make_organization("ООО «Передача»", responsible_id=user_id(app, "ivanov")).id
    url = f"/organizationview/edit/{org_id}"
    for responsible in (str(user_id(app, "petrova")), ""):
        admin_client.post(
            url,
            data={"name": "ООО «Передача»", "responsible": responsible, "csrf_token": csrf_token(admin_client, url)},
        )
    with app.app_context():
        assert db.session.get(Organization, org_id).responsible_id is None
    html = history_html(admin_client, f"/organizationview/show/{org_id}")
    assert "Ответственный менеджер: Иван Иванов → Мария Петрова" in html
    assert "Ответственный менеджер: Мария Петрова → —" in html


def test_request_responsible_change_by_rest_is_named_in_the_history(app, client, manager_api, manager_client):
    with app.app_context():
        org = make_organization("ООО «Через API»")
        request_id = make_request(org, responsible_id=user_id(app, "ivanov")).id
    answer = client.put(
        f"/api/v1/request/{request_id}", json={"responsible": user_id(app, "petrova")}, headers=manager_api
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    answer = client.put(f"/api/v1/request/{request_id}", json={"responsible": None}, headers=manager_api)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    html = history_html(manager_client, f"/requestview/show/{request_id}")
    assert "Ответственный менеджер: Иван Иванов → Мария Петрова" in html
    assert "Ответственный менеджер: Мария Петрова → —" in html


def test_a_reminder_in_the_past_is_refused_with_a_clear_message(app, client, manager_client, manager_api):
    form = "/reminders/new"
    page = manager_client.post(
        form, data={"csrf_token": csrf_token(manager_client, form), "text": "Позвонить", "due": "2020-01-01T10:00"}
    )
    assert "Это время уже прошло: выберите время в будущем." in page.get_data(as_text=True)
    answer = client.post(
        "/api/v1/reminder/", json={"text": "Позвонить", "due_at": "2020-01-01T10:00:00+03:00"}, headers=manager_api
    )
    assert answer.status_code == 400
    assert "Это время уже прошло" in answer.get_json()["message"]
    with app.app_context():
        from app.models import Reminder

        assert db.session.query(Reminder).count() == 0


def test_a_new_request_is_dated_today_in_the_managers_zone(app, manager_client):
    """At 01:26 in Vladivostok it is still yesterday in UTC: the form offers the local date."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    with app.app_context():
        ivanov = db.session.get(CrmUser, user_id(app, "ivanov"))
        ivanov.timezone = "Pacific/Kiritimati"  # UTC+14: its date is ahead of UTC's for 14 hours a day
        db.session.commit()
    try:
        html = manager_client.get("/requestview/add").get_data(as_text=True)
        local = datetime.now(ZoneInfo("Pacific/Kiritimati")).date()
        assert f'value="{local.isoformat()}"' in html
    finally:
        with app.app_context():
            db.session.get(CrmUser, user_id(app, "ivanov")).timezone = None
            db.session.commit()


def test_organisations_are_listed_by_name_without_their_legal_form(app, manager_client):
    with app.app_context():
        for name in ("ООО «Вектор»", "АО «Ясень»", "ИП Борисов Олег", "ЗАО Альфа"):
            make_organization(name)
        from app.models.clients import sort_key

        assert sort_key("АО «Ясень»") == "ясень" and sort_key("ООО «Вектор»") == "вектор"
    html = manager_client.get("/organizationview/list/").get_data(as_text=True)
    order = [html.index(name) for name in ("ЗАО Альфа", "ИП Борисов Олег", "ООО «Вектор»", "АО «Ясень»")]
    assert order == sorted(order)


def test_values_are_shown_the_russian_way(app):
    from datetime import UTC, date, datetime
    from types import SimpleNamespace

    from app.formatting import cell, file_size, person

    with app.test_request_context("/"):
        assert file_size(303) == "303\u00a0Б"
        assert file_size(5017) == "4,9\u00a0КБ"
        assert file_size(3 * 1024 * 1024) == "3,0\u00a0МБ"
        assert cell(None) == "" and cell(None, empty="—") == "—"
        assert cell(True) == "Да" and cell(False) == "Нет"
        # Stored UTC, shown in the company's zone (Moscow), without seconds or microseconds.
        assert cell(datetime(2026, 12, 1, 22, 19, 34, 208898, tzinfo=UTC)) == "02.12.2026 01:19"
        assert cell(date(2026, 12, 2)) == "02.12.2026"
        assert person(SimpleNamespace(first_name="Администратор", last_name="", username="admin")) == "Администратор"
        assert person(SimpleNamespace(first_name="", last_name="", username="admin")) == "admin"
