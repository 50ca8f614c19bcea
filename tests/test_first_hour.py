"""The first hour of a new sales team, without a browser: a history that reads like a diary (human
headlines, only real changes, the responsible manager's changes named), past reminders refused, the
local date, and organisations sorted by their name without the legal form."""

from __future__ import annotations

import io
import re

import pytest
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


def test_the_history_shows_prices_dates_and_flags_the_russian_way(app, manager_client):
    with app.app_context():
        org = make_organization("ООО «Формат»", contacts=[{"full_name": "Орлов Пётр", "is_primary": False}])
        request_id = make_request(org).id
        contact_id, org_id = org.contacts[0].id, org.id
    url = f"/requestview/edit/{request_id}"
    for price, step in (("1 250 000,50", "2026-12-01"), ("990\u00a0000", "")):
        form = request_form(
            app,
            request_id,
            contract_price=price,
            next_step_on=step,
            next_step_text="Отправить КП",
            csrf_token=csrf_token(manager_client, url),
        )
        assert manager_client.post(url, data=form).status_code == 302
    html = history_html(manager_client, f"/requestview/show/{request_id}")
    assert "Цена контракта: — → 1\u00a0250\u00a0000,50\u00a0₽" in html
    assert "Цена контракта: 1\u00a0250\u00a0000,50\u00a0₽ → 990\u00a0000,00\u00a0₽" in html
    assert "Следующий шаг: — → 01.12.2026" in html
    assert "Следующий шаг: 01.12.2026 → —" in html
    assert "1250000.50" not in html and "2026-12-01" not in html and "None" not in html
    edit = f"/contactview/edit/{contact_id}"
    manager_client.post(
        edit,
        data={
            "organization": str(org_id),
            "full_name": "Орлов Пётр",
            "is_primary": "y",
            "csrf_token": csrf_token(manager_client, edit),
        },
    )
    html = history_html(manager_client, f"/organizationview/show/{org_id}")
    assert "Основной контакт: Нет → Да" in html
    assert "True" not in html and "False" not in html and "None" not in html


def test_a_price_in_dollars_keeps_its_currency_in_the_history(app, manager_client):
    """The currency of each line is the one the request had then, not the one it has now."""
    with app.app_context():
        request_id = make_request(make_organization("ООО «Валюта»")).id
    url = f"/requestview/edit/{request_id}"
    for price, currency in (("18 500", "USD"), ("1 500 000", "RUB")):
        form = request_form(
            app, request_id, contract_price=price, currency=currency, csrf_token=csrf_token(manager_client, url)
        )
        assert manager_client.post(url, data=form).status_code == 302
    html = history_html(manager_client, f"/requestview/show/{request_id}")
    assert "Цена контракта: — → 18\u00a0500,00\u00a0$" in html
    assert "Цена контракта: 18\u00a0500,00\u00a0$ → 1\u00a0500\u00a0000,00\u00a0₽" in html


def test_the_status_history_is_headed_change_and_a_new_organisation_is_feminine(app, manager_client):
    with app.app_context():
        org_id = make_organization("ООО «Род»").id
        request_id = make_request(make_organization("ООО «Заголовки»")).id
    page = manager_client.get(f"/requestview/show/{request_id}").get_data(as_text=True)
    status_panel = page[page.index('id="status"') : page.index('id="delivery"')]
    assert "<th>Изменение</th>" in status_panel and "Изменить</th>" not in status_panel
    html = history_html(manager_client, f"/organizationview/show/{org_id}")
    assert "Организация «ООО «Род»» добавлена" in html
    assert "добавлено" not in html


def item_quantities(app, request_id: int) -> list[int]:
    with app.app_context():
        return [item.quantity for item in db.session.get(Request, request_id).items]


QUANTITY_REFUSAL = "Количество — целое число от 1 до 1 000 000."


@pytest.mark.parametrize("typed", ["1 000", "1\u00a0000", "1\u202f000", " 1000 "])
def test_a_quantity_typed_with_thousands_separators_is_saved_by_the_form(app, manager_client, typed):
    with app.app_context():
        request_id = make_request(make_organization("ООО «Тысяча»"), responsible_id=user_id(app, "ivanov")).id
    url = f"/requestview/edit/{request_id}"
    form = request_form(app, request_id, csrf_token=csrf_token(manager_client, url))
    form["equipment-0-quantity"] = typed
    answer = manager_client.post(url, data=form)
    assert answer.status_code == 302, answer.get_data(as_text=True)[:3000]
    assert item_quantities(app, request_id) == [1000]


@pytest.mark.parametrize("typed", ["1.5", "1,5", "-3", "0", "1 000 001", "10 00", "много"])
def test_a_quantity_that_is_not_a_whole_number_of_pieces_is_refused_by_the_form(app, manager_client, typed):
    with app.app_context():
        request_id = make_request(make_organization("ООО «Дробь»"), responsible_id=user_id(app, "ivanov")).id
    url = f"/requestview/edit/{request_id}"
    form = request_form(app, request_id, csrf_token=csrf_token(manager_client, url))
    form["equipment-0-quantity"] = typed
    answer = manager_client.post(url, data=form)
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    assert QUANTITY_REFUSAL in page
    assert "Not a valid" not in page and "Неверное" not in page
    assert item_quantities(app, request_id) == [1]


def test_the_quantity_field_is_text_so_a_browser_lets_a_space_be_typed(app, manager_client):
    html = manager_client.get("/requestview/add").get_data(as_text=True)
    field = re.search(r'<input[^>]*name="equipment-0-quantity"[^>]*>', html).group(0)
    assert 'type="text"' in field and 'inputmode="numeric"' in field


def _put_quantity(app, client, headers: dict, sent) -> tuple[int, object]:
    """A request of one pump for Иванов; its items replaced over the API by one of quantity `sent`."""
    with app.app_context():
        request_id = make_request(make_organization("ООО «API количество»"), responsible_id=user_id(app, "ivanov")).id
    answer = client.put(
        f"/api/v1/request/{request_id}/items",
        json={"items": [{"equipment_type": "Насос", "quantity": sent}]},
        headers=headers,
    )
    return request_id, answer


@pytest.mark.parametrize("sent", ["1 000", "1\u00a0000", 1000])
def test_a_quantity_with_thousands_separators_is_saved_by_the_api(app, client, manager_api, sent):
    request_id, answer = _put_quantity(app, client, manager_api, sent)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert item_quantities(app, request_id) == [1000]


@pytest.mark.parametrize("sent", ["1.5", "1,5", "-3", "0", 0, 1.5, "10 00"])
def test_a_quantity_that_is_not_a_whole_number_of_pieces_is_refused_by_the_api(app, client, manager_api, sent):
    request_id, answer = _put_quantity(app, client, manager_api, sent)
    assert answer.status_code == 422, answer.get_data(as_text=True)
    assert answer.get_json()["message"]["items"]["0"]["quantity"] == [QUANTITY_REFUSAL]
    assert item_quantities(app, request_id) == [1]


def test_the_nobody_choice_of_a_responsible_dropdown_reads_in_russian(app, admin_client):
    """FAB posts «__None» for an empty relation; the user sees «— не назначен —», never that code."""
    with app.app_context():
        org_id = make_organization("ООО «Ничьё»").id
        request_id = make_request(make_organization("ООО «Ничей запрос»")).id
    for url in (
        "/organizationview/add",
        f"/organizationview/edit/{org_id}",
        "/requestview/add",
        f"/requestview/edit/{request_id}",
    ):
        html = admin_client.get(url).get_data(as_text=True)
        select = re.search(r'<select[^>]*name="responsible"[^>]*>(.*?)</select>', html, re.S).group(1)
        assert '<option value="__None">— не назначен —</option>' in select or (
            '<option selected value="__None">— не назначен —</option>' in select
        ), (url, select[:300])
        assert ">__None<" not in html, url
    # The lists' search filter «Ответственный менеджер» offers managers only: an empty choice there
    # was shown as «__None» and refused by the list.
    for url in ("/organizationview/search_panel/", "/requestview/search_panel/"):
        panel = admin_client.get(url).get_data(as_text=True)
        assert 'name=\\"responsible\\"' in panel and "__None" not in panel, url
    # Choosing nobody saves nobody, and the history names no code either.
    url = f"/organizationview/edit/{org_id}"
    admin_client.post(
        url,
        data={
            "name": "ООО «Ничьё»",
            "responsible": str(user_id(app, "petrova")),
            "csrf_token": csrf_token(admin_client, url),
        },
    )
    answer = admin_client.post(
        url, data={"name": "ООО «Ничьё»", "responsible": "__None", "csrf_token": csrf_token(admin_client, url)}
    )
    assert answer.status_code == 302
    with app.app_context():
        assert db.session.get(Organization, org_id).responsible_id is None
    html = history_html(admin_client, f"/organizationview/show/{org_id}")
    assert "Ответственный менеджер: Мария Петрова → —" in html and "__None" not in html
