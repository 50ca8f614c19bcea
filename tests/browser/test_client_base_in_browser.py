"""A manager works with the client base in a real Chromium."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.models import CrmUser
from tests.browser.conftest import log_in, screenshot
from tests.factories import make_organization

# The README's screenshots are refreshed only when asked: UPDATE_DOCS_SCREENSHOTS=1 pytest tests/browser
DOCS = Path(__file__).resolve().parents[2] / "docs"
UPDATE_DOCS = bool(os.environ.get("UPDATE_DOCS_SCREENSHOTS"))


def seed_client_base(app) -> None:
    with app.app_context():
        make_organization(
            "ООО «Северсталь-Сервис»",
            inn="3528000597",
            city="Череповец",
            phones="+7 (8202) 53-00-00",
            email="info@severstal-service.ru",
            contacts=[
                {
                    "full_name": "Смирнов Алексей Петрович",
                    "position": "Главный механик",
                    "mobile_phone": "+7 (921) 555-12-34",
                    "email": "smirnov@severstal-service.ru",
                    "is_primary": True,
                },
                {"full_name": "Кузнецова Ольга", "position": "Снабжение", "work_phone": "+7 (8202) 53-00-11"},
            ],
        )
        make_organization("ЗАО «Уралмаш»", city="Екатеринбург", phones="8 (343) 200-10-20")
        make_organization("АО «Балтийский завод»", city="Санкт-Петербург", email="office@bz.ru")


# More clients of two managers, for the list the README shows.
MORE_CLIENTS = [
    ("ООО «Водоканал Чебоксары»", "Чебоксары", "+7 (8352) 22-30-40", "office@vodokanal21.ru", "ivanov"),
    ("ПАО «Татнефть»", "Альметьевск", "+7 (8553) 30-71-11", "tnr@tatneft.ru", "petrova"),
    ("АО «Химпром»", "Новочебоксарск", "+7 (8352) 73-11-22", "info@himprom.ru", "petrova"),
    ("ООО «Аквасервис»", "Казань", "+7 (843) 200-45-67", "sales@aquaservice.ru", "ivanov"),
    ("МУП «Теплосеть»", "Тверь", "+7 (4822) 35-50-50", "teplo@tver.ru", "petrova"),
    ("ИП Борисов Олег Викторович", "Самара", "+7 (927) 600-12-12", "borisov@mail.ru", "ivanov"),
]


def seed_more_clients(app) -> None:
    with app.app_context():
        for name, city, phones, email, username in MORE_CLIENTS:
            manager = db.session.scalars(select(CrmUser).where(CrmUser.username == username)).one()
            make_organization(name, city=city, phones=phones, email=email, responsible=manager)


def test_hovering_a_row_reveals_its_buttons(app, page):
    seed_client_base(app)
    seed_more_clients(app)
    log_in(page, "ivanov")
    page.goto("/organizationview/list/")
    row = page.locator("tr.crm-row", has_text="Уралмаш")
    buttons = row.locator(".crm-row-actions")
    expect(buttons).to_be_hidden()
    row.hover()
    expect(buttons).to_be_visible()
    for name in ["Контакты компании", "Открыть", "Изменить", "Новый контакт"]:
        expect(buttons.get_by_role("link", name=name).or_(buttons.get_by_role("button", name=name))).to_be_visible()
    path = screenshot(page, "organisations-list.png")
    if UPDATE_DOCS:
        shutil.copy(path, DOCS / "organisations-list.png")


def test_popup_lists_the_company_and_every_employee_without_leaving_the_list(app, page):
    seed_client_base(app)
    seed_more_clients(app)
    log_in(page, "ivanov")
    page.goto("/organizationview/list/")
    list_url = page.url
    page.get_by_role("link", name="ООО «Северсталь-Сервис»").click()
    card = page.locator("#crm-card-modal")
    expect(card).to_be_visible()
    for text in [
        "+7 (8202) 53-00-00",
        "info@severstal-service.ru",
        "Смирнов Алексей Петрович",
        "Главный механик",
        "+7 (921) 555-12-34",
        "smirnov@severstal-service.ru",
        "Кузнецова Ольга",
        "+7 (8202) 53-00-11",
    ]:
        expect(card).to_contain_text(text)
    assert page.url == list_url
    expect(card).to_have_class("modal fade in")
    path = screenshot(page, "organisation-card.png")
    if UPDATE_DOCS:
        shutil.copy(path, DOCS / "organisation-card.png")


def test_quick_search_by_a_contacts_phone_finds_the_company(app, page):
    seed_client_base(app)
    log_in(page, "ivanov")
    page.goto("/organizationview/list/")
    page.fill("#crm-quick-search", "9215551234")
    page.keyboard.press("Enter")
    rows = page.locator("tr.crm-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Северсталь-Сервис")


def test_adding_an_organization_and_switching_to_english(app, page):
    log_in(page, "ivanov")
    page.goto("/organizationview/add")
    page.fill("input[name=name]", "ООО «Новый клиент»")
    page.fill("input[name=email]", "не почта")
    page.click("button[type=submit], input[type=submit]")
    expect(page.locator("body")).to_contain_text("Неверный адрес электронной почты")
    expect(page.locator("input[name=name]")).to_have_value("ООО «Новый клиент»")
    page.fill("input[name=email]", "hello@new-client.ru")
    page.click("button[type=submit], input[type=submit]")
    page.goto("/organizationview/list/")
    expect(page.locator("tr.crm-row")).to_contain_text("ООО «Новый клиент»")
    page.goto("/lang/en")
    page.goto("/organizationview/list/")
    expect(page.locator("body")).to_contain_text("Organisations")


def test_the_search_panel_loads_when_opened_and_its_filter_narrows_the_list(app, page):
    seed_client_base(app)
    log_in(page, "ivanov")
    page.goto("/organizationview/list/")
    expect(page.locator("tr.crm-row")).to_have_count(3)
    expect(page.locator("#filter_form")).to_have_count(0)  # not made until the panel is opened
    page.locator("#accordion1 a.accordion-toggle").click()
    form = page.locator("#filter_form")
    expect(form).to_be_visible()
    form.locator(".dropdown-toggle").click()
    form.locator("a.filter[name=city]").click()
    form.locator("input.filter_val").fill("Екатеринбург")
    form.locator("button[type=submit]").click()
    rows = page.locator("tr.crm-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Уралмаш")
    # Opened again on the filtered page, the panel shows the active filter.
    page.locator("#accordion1 a.accordion-toggle").click()
    expect(page.locator("#filter_form input.filter_val")).to_have_value("Екатеринбург")
