"""A manager works a request from the first call to delivery: number, items, status, delivery,
comments, finance; the catalogue learns the equipment and suggests it back."""

from __future__ import annotations

import os
import re
import threading
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.domain.catalogue import suggest
from app.domain.numbering import next_request_number
from app.extensions import db
from app.models import CatalogueEntry, Organization, Request
from tests.conftest import csrf_token
from tests.factories import make_organization, make_request


def new_request_form(client, organization_id: int, rows: list[dict], **fields) -> dict:
    data = {"csrf_token": csrf_token(client, "/requestview/add"), "organization": str(organization_id)}
    for index, row in enumerate(rows):
        for key, value in row.items():
            data[f"equipment-{index}-{key}"] = value
    data.update(fields)
    return data


def test_manager_creates_a_request_with_two_items_and_lands_on_its_card(app, manager_client):
    with app.app_context():
        org_id = make_organization("ООО «Водоканал»").id
    rows = [
        {"equipment_type": "Система очистки", "name": "OUUT", "subname": "X2-200", "capacity": "227", "quantity": "2"},
        {"equipment_type": "Насос", "name": "Grundfos", "subname": "CR 10", "capacity": "12", "quantity": "1"},
    ]
    answer = manager_client.post("/requestview/add", data=new_request_form(manager_client, org_id, rows))
    assert answer.status_code == 302
    with app.app_context():
        saved = db.session.scalars(select(Request)).one()
        assert saved.number == f"{date.today().year}-0001"
        assert saved.request_date == date.today()
        assert saved.status == "preparing_offer" and saved.delivery_status == "not_started"
        assert saved.responsible.username == "ivanov"
        assert [item.describe() for item in saved.items] == [
            "Система очистки / OUUT / X2-200 / 227 × 2",
            "Насос / Grundfos / CR 10 / 12",
        ]
        assert answer.headers["Location"].endswith(f"/requestview/show/{saved.id}")
        entries = db.session.scalars(select(CatalogueEntry).order_by(CatalogueEntry.equipment_type)).all()
        assert [str(entry) for entry in entries] == [
            "Насос / Grundfos / CR 10 / 12",
            "Система очистки / OUUT / X2-200 / 227",
        ]
    card = manager_client.get(answer.headers["Location"]).get_data(as_text=True)
    assert saved.number in card and "ООО «Водоканал»" in card and "X2-200" in card and "Grundfos" in card


def test_a_request_without_equipment_is_refused_and_the_form_keeps_its_data(app, manager_client):
    with app.app_context():
        org_id = make_organization("ООО Пустой").id
    rows = [{"equipment_type": "", "name": "OUUT"}]
    page = manager_client.post("/requestview/add", data=new_request_form(manager_client, org_id, rows))
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Укажите тип оборудования." in html
    assert 'value="OUUT"' in html
    with app.app_context():
        assert db.session.scalar(select(Request.id)) is None


def test_numbers_are_sequential_and_never_reused(app):
    with app.app_context():
        org = make_organization("ООО Номера")
        first = make_request(org)
        second = make_request(org)
        db.session.delete(second)
        db.session.commit()
        third = make_request(org)
        year = date.today().year
        assert (first.number, third.number) == (f"{year}-0001", f"{year}-0003")
        assert next_request_number(db.session, date(2031, 5, 1)) == "2031-0001"
        db.session.rollback()


@pytest.mark.skipif(not os.environ.get("DATABASE_URL"), reason="concurrency is proven on PostgreSQL")
def test_fifty_requests_saved_at_once_get_fifty_distinct_numbers(app):
    with app.app_context():
        org_id = make_organization("ООО Параллель").id
    numbers: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(50)

    def create() -> None:
        try:
            with app.app_context():
                start.wait()
                request = make_request(db.session.get(Organization, org_id))
                numbers.append(request.number)
                db.session.remove()
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=create) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    year = date.today().year
    assert sorted(numbers) == [f"{year}-{n:04d}" for n in range(1, 51)]


def test_catalogue_suggestions_narrow_field_by_field(app):
    with app.app_context():
        org = make_organization("ООО Каталог")
        make_request(
            org,
            items=[
                {"equipment_type": "Система очистки", "name": "OUUT", "subname": "X2-200", "capacity": "227"},
                {"equipment_type": "Система очистки", "name": "OUUT", "subname": "X2-300", "capacity": "350"},
                {"equipment_type": "Система очистки", "name": "Aquaflow", "subname": "A1", "capacity": "100"},
                {"equipment_type": "Насос", "name": "Grundfos", "subname": "CR 10", "capacity": "12"},
            ],
        )
        session = db.session
        assert suggest(session, "equipment_type", "сист") == ["Система очистки"]
        assert sorted(suggest(session, "name", equipment_type="Система очистки")) == ["Aquaflow", "OUUT"]
        assert suggest(session, "name", equipment_type="Насос") == ["Grundfos"]
        assert sorted(suggest(session, "subname", equipment_type="Система очистки", name="OUUT")) == [
            "X2-200",
            "X2-300",
        ]
        assert suggest(session, "capacity", equipment_type="Система очистки", name="OUUT", subname="X2-300") == ["350"]
        assert suggest(session, "name", "grund") == ["Grundfos"]


def test_catalogue_suggestions_api_for_the_form(app, manager_client):
    with app.app_context():
        make_request(make_organization("ООО Апи"), items=[{"equipment_type": "Насос", "name": "Grundfos"}])
    answer = manager_client.get("/api/v1/catalogue/suggest", query_string={"field": "name", "equipment_type": "Насос"})
    assert answer.status_code == 200 and answer.get_json()["result"] == ["Grundfos"]
    assert manager_client.get("/api/v1/catalogue/suggest", query_string={"field": "price"}).status_code == 400


def test_status_change_needs_a_comment_and_is_kept_with_its_author(app, manager_client):
    with app.app_context():
        pk = make_request(make_organization("ООО Статус")).id
    show = f"/requestview/show/{pk}"
    refused = manager_client.post(
        f"/requestview/status/{pk}",
        data={"status": "stalled", "comment": " ", "csrf_token": csrf_token(manager_client, show)},
    )
    assert "Напишите комментарий" in manager_client.get(refused.headers["Location"]).get_data(as_text=True)
    manager_client.post(
        f"/requestview/status/{pk}",
        data={"status": "stalled", "comment": "Клиент ждёт бюджет", "csrf_token": csrf_token(manager_client, show)},
    )
    with app.app_context():
        request = db.session.get(Request, pk)
        assert request.status == "stalled"
        change = request.status_changes[-1]
        assert (change.old_value, change.new_value, change.comment) == (
            "preparing_offer",
            "stalled",
            "Клиент ждёт бюджет",
        )
        assert change.changed_by.username == "ivanov"
    card = manager_client.get(show).get_data(as_text=True)
    assert "Клиент ждёт бюджет" in card and "Иван Иванов" in card and "Затормозилось" in card


def test_delivery_status_changes_are_kept_in_a_history(app, manager_client):
    with app.app_context():
        pk = make_request(make_organization("ООО Доставка")).id
    show = f"/requestview/show/{pk}"
    for status, comment in [
        ("preparing_shipment", "Собираем"),
        ("shipped", "Отгружено со склада"),
        ("in_transit", "ТК Деловые линии"),
    ]:
        manager_client.post(
            f"/requestview/delivery/{pk}",
            data={"delivery_status": status, "comment": comment, "csrf_token": csrf_token(manager_client, show)},
        )
    with app.app_context():
        request = db.session.get(Request, pk)
        assert request.delivery_status == "in_transit"
        assert [(c.old_value, c.new_value) for c in request.delivery_changes] == [
            ("not_started", "preparing_shipment"),
            ("preparing_shipment", "shipped"),
            ("shipped", "in_transit"),
        ]
    assert "ТК Деловые линии" in manager_client.get(show).get_data(as_text=True)


def test_comments_join_the_documentation_timeline_with_author(app, manager_client):
    with app.app_context():
        pk = make_request(make_organization("ООО Комментарий")).id
    show = f"/requestview/show/{pk}"
    manager_client.post(
        f"/requestview/comment/{pk}",
        data={"comment": "Перезвонить в пятницу", "csrf_token": csrf_token(manager_client, show)},
    )
    html = manager_client.get(show).get_data(as_text=True)
    assert "Перезвонить в пятницу" in html and "Иван Иванов" in html


def test_editing_replaces_items_and_saves_finance(app, manager_client):
    with app.app_context():
        org = make_organization("ООО Финансы")
        pk = make_request(org).id
        org_id = org.id
    url = f"/requestview/edit/{pk}"
    data = new_request_form(
        manager_client,
        org_id,
        [{"equipment_type": "Насос", "name": "Wilo", "quantity": "3"}],
        request_date="2026-11-20",
        payment_terms="50% предоплата",
        contract_number="Д-17/2026",
        invoice_number="СЧ-301",
        contract_price="1250000.50",
        currency="RUB",
        finance_comment="Цена с НДС",
    )
    data["csrf_token"] = csrf_token(manager_client, url)
    answer = manager_client.post(url, data=data)
    assert answer.status_code == 302, answer.get_data(as_text=True)[-2000:]
    with app.app_context():
        request = db.session.get(Request, pk)
        assert [item.describe() for item in request.items] == ["Насос / Wilo × 3"]
        assert (request.contract_number, request.invoice_number, str(request.contract_price)) == (
            "Д-17/2026",
            "СЧ-301",
            "1250000.50",
        )
    html = manager_client.get(f"/requestview/show/{pk}").get_data(as_text=True)
    assert "1\u00a0250\u00a0000,50\u00a0₽" in html and "50% предоплата" in html


def test_requests_list_filters_by_status_and_by_equipment_and_finds_stalled_companies(app, manager_client):
    with app.app_context():
        stalled_org = make_organization("ООО Застой")
        busy_org = make_organization("ООО Работа")
        stalled = make_request(stalled_org, items=[{"equipment_type": "Компрессор", "name": "Atlas Copco"}])
        stalled.status = "stalled"
        make_request(busy_org, items=[{"equipment_type": "Насос", "name": "Grundfos"}], status="in_progress")
        db.session.commit()
    listing = manager_client.get("/requestview/list/", query_string={"status": "stalled"}).get_data(as_text=True)
    assert "ООО Застой" in listing and "ООО Работа" not in listing
    by_equipment = manager_client.get("/requestview/list/", query_string={"q": "atlas"}).get_data(as_text=True)
    assert "ООО Застой" in by_equipment and "ООО Работа" not in by_equipment
    companies = manager_client.get("/organizationview/list/", query_string={"request_status": "stalled"}).get_data(
        as_text=True
    )
    assert "ООО Застой" in companies and "ООО Работа" not in companies


def test_organization_page_has_its_requests_tab(app, manager_client):
    with app.app_context():
        org = make_organization("ООО Вкладка")
        number = make_request(org).number
        other = make_request(make_organization("ООО Чужая")).number
        org_id = org.id
    html = manager_client.get(f"/organizationview/show/{org_id}").get_data(as_text=True)
    assert "Запросы организации" in html and number in html and other not in html


def test_the_new_request_form_offers_the_manager_himself_as_responsible(app, manager_client):
    html = manager_client.get("/requestview/add").get_data(as_text=True)
    selected = re.search(r'<select[^>]*name="responsible".*?</select>', html, re.S).group(0)
    assert re.search(
        r'<option selected value="\d+">Иван Иванов</option>|<option value="\d+" selected>Иван Иванов', selected
    )


def test_administrator_fixes_a_typo_and_merges_duplicates_in_the_catalogue(app, admin_client):
    from app.models import CatalogueEntry

    with app.app_context():
        org = make_organization("ООО «Опечатки»")
        make_request(org, items=[{"equipment_type": "Насос", "name": "Grundfos"}])
        make_request(org, items=[{"equipment_type": "Насос", "name": "Grundfoss"}])
        make_request(org, items=[{"equipment_type": "Насос", "name": "Grundfos"}])
        right, typo = (
            db.session.scalars(select(CatalogueEntry.id).where(CatalogueEntry.name == name)).one()
            for name in ("Grundfos", "Grundfoss")
        )
    token = csrf_token(admin_client, "/catalogueentryview/list/")
    admin_client.post(
        "/catalogueentryview/action_post",
        data={"action": "merge", "rowid": [str(right), str(typo)], "csrf_token": token},
    )
    with app.app_context():
        [entry] = db.session.scalars(select(CatalogueEntry)).all()
        assert (entry.name, entry.times_used) == ("Grundfos", 3)
    url = f"/catalogueentryview/edit/{right}"
    admin_client.post(
        url, data={"equipment_type": "Насос", "name": "Grundfos", "subname": "CR 10", "csrf_token": token}
    )
    with app.app_context():
        assert db.session.get(CatalogueEntry, right).subname == "CR 10"


def test_managers_cannot_edit_the_catalogue(manager_client):
    assert manager_client.get("/catalogueentryview/list/").status_code in (302, 403)


def test_the_requests_list_shows_each_price_in_its_own_currency_and_sorts_by_it(app, manager_client):
    with app.app_context():
        organization = make_organization("ООО Валюта")
        make_request(organization, contract_price=Decimal("1250000.50"), currency="RUB")
        make_request(organization, contract_price=Decimal("5000"), currency="USD")
    dollars, roubles = "5\u00a0000,00\u00a0$", "1\u00a0250\u00a0000,50\u00a0₽"
    listing = manager_client.get("/requestview/list/", query_string={"q": "Валюта"}).get_data(as_text=True)
    assert dollars in listing and roubles in listing
    assert "5\u00a0000,00\u00a0₽" not in listing
    for direction, first in (("asc", dollars), ("desc", roubles)):
        ordered = manager_client.get(
            "/requestview/list/", query_string={"q": "Валюта", "_oc_RequestView": "price", "_od_RequestView": direction}
        ).get_data(as_text=True)
        assert ordered.index(first) == min(ordered.index(dollars), ordered.index(roubles))
