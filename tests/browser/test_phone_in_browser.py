"""A manager at a client's site: the same pages on a phone (390×844, touch) in a real Chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in, screenshot
from tests.browser.test_client_base_in_browser import seed_client_base
from tests.factories import make_organization, make_request


@pytest.fixture
def phone(browser, live_server):
    context = browser.new_context(
        base_url=live_server,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="ru-RU",
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def no_sideways_scroll(page) -> None:
    wide = page.evaluate(
        "[...document.querySelectorAll('body *')]"
        ".filter(e => e.getBoundingClientRect().right > 391 && !e.closest('table'))"
        ".map(e => e.tagName + '.' + e.className + '#' + e.id).slice(0, 6)"
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= 391, (page.url, wide)


def test_the_organisations_list_is_cards_with_buttons_and_the_popup_calls_with_one_tap(app, phone):
    seed_client_base(app)
    log_in(phone, "ivanov")
    phone.goto("/organizationview/list/")
    no_sideways_scroll(phone)
    card = phone.locator("tr.crm-row", has_text="Уралмаш")
    expect(card.locator(".crm-row-actions")).to_be_visible()  # no hover on a phone: the buttons show
    expect(card.get_by_role("link", name="Открыть")).to_be_visible()
    expect(card.locator("a.crm-tel")).to_have_attribute("href", "tel:83432001020")
    mail = phone.locator("tr.crm-row", has_text="Балтийский").locator("a.crm-mailto")
    expect(mail).to_have_attribute("href", "mailto:office@bz.ru")
    screenshot(phone, "organisations-phone.png")
    phone.get_by_role("link", name="ООО «Северсталь-Сервис»").tap()
    popup = phone.locator("#crm-card-modal")
    expect(popup).to_be_visible()
    call = popup.get_by_role("link", name="+7 (921) 555-12-34")
    expect(call).to_be_visible()
    assert call.get_attribute("href").startswith("tel:")
    expect(popup.get_by_role("link", name="smirnov@severstal-service.ru")).to_have_attribute(
        "href", "mailto:smirnov@severstal-service.ru"
    )


def test_a_comment_and_a_reminder_on_a_request_from_a_phone(app, phone):
    with app.app_context():
        request_id = make_request(make_organization("ООО «На объекте»")).id
    log_in(phone, "ivanov")
    phone.goto(f"/requestview/show/{request_id}")
    no_sideways_scroll(phone)
    form = phone.locator(".crm-comment-form")
    form.locator("textarea[name=comment]").fill("Осмотрел площадку, нужен насос помощнее")
    form.get_by_role("button", name="Добавить комментарий").tap()
    expect(phone.locator(".alert-success")).to_contain_text("Комментарий добавлен")
    expect(phone.locator("#documentation")).to_contain_text("Осмотрел площадку, нужен насос помощнее")
    phone.locator(".crm-reminder-button").first.tap()
    phone.locator("textarea[name=text]").fill("Отправить КП на насос")
    phone.get_by_role("button", name="Завтра в 9:00").tap()
    expect(phone.locator(".alert-success")).to_contain_text("Напоминание установлено")
    phone.goto("/reminders/")
    text = phone.locator("tr.crm-reminder td.crm-pre", has_text="Отправить КП на насос")
    expect(text).to_be_visible()
    assert text.bounding_box()["width"] > 300  # a line to read, not a column one letter wide
    no_sideways_scroll(phone)


def test_an_organisations_employees_and_requests_fit_a_phone_and_call_with_one_tap(app, phone):
    seed_client_base(app)
    with app.app_context():
        from sqlalchemy import select

        from app.extensions import db
        from app.models import Organization

        organization = db.session.scalars(select(Organization).where(Organization.name.like("%Северсталь%"))).one()
        make_request(organization, contract_price=1250000)
        pk = organization.id
    log_in(phone, "ivanov")
    phone.goto(f"/organizationview/show/{pk}")
    no_sideways_scroll(phone)
    phone.get_by_role("link", name="Контактные лица").first.tap()
    card = phone.locator("table.crm-contacts tr", has_text="Смирнов Алексей Петрович")
    mobile = card.get_by_role("link", name="+7 (921) 555-12-34")
    expect(mobile).to_be_in_viewport()  # on the screen, not scrolled off to the right
    assert mobile.get_attribute("href").startswith("tel:")
    expect(card.get_by_role("link", name="smirnov@severstal-service.ru")).to_be_in_viewport()
    labels = card.locator("td").evaluate_all("cells => cells.map(c => getComputedStyle(c, '::before').content)")
    assert '"Мобильный телефон: "' in labels and '"E-mail: "' in labels  # each value says what it is
    no_sideways_scroll(phone)
    screenshot(phone, "organisation-employees-phone.png")
    phone.get_by_role("link", name="Запросы организации").first.tap()
    row = phone.locator("table.crm-organization-requests tr").nth(1)
    labels = row.locator("td").evaluate_all("cells => cells.map(c => getComputedStyle(c, '::before').content)")
    assert '"Цена контракта: "' in labels
    expect(row.get_by_text("1 250 000,00")).to_be_in_viewport()
    no_sideways_scroll(phone)
