"""Error pages in a real Chromium: a missing record and hand-edited list arguments show a Russian
page inside the site's layout (menu included), not a bare English «Not Found» or a server error."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import log_in, screenshot


def test_a_missing_record_is_a_russian_page_with_the_menu(app, page):
    log_in(page, "petrova")
    answer = page.goto("/requestview/show/999999")
    assert answer.status == 404
    expect(page.locator(".crm-error")).to_contain_text("не найдена")
    expect(page.locator(".navbar")).to_contain_text("Запросы")
    screenshot(page, "error-404.png")


def test_hand_edited_list_arguments_are_explained_not_a_server_error(app, page):
    log_in(page, "petrova")
    answer = page.goto("/organizationview/list/?_oc_OrganizationView=responsible&_od_OrganizationView=asc")
    assert answer.status == 400
    expect(page.locator(".crm-error")).to_contain_text("нельзя сортировать")
    page.click(".crm-error a.btn")
    expect(page.locator(".navbar")).to_be_visible()
    page.goto("/organizationview/list/?page_OrganizationView=-1")
    expect(page.locator(".crm-error")).to_contain_text("Страницы -1 нет")
    screenshot(page, "error-400.png")


def test_a_manager_opening_an_admin_page_gets_a_russian_403_within_the_layout(app, page):
    """Петрова (scope «own») types the users' or the imports' address: refused, in Russian, with
    her menu still there to go on working."""
    with app.app_context():
        from sqlalchemy import select

        from app.extensions import db
        from app.models import CrmUser, RecordScope

        petrova = db.session.scalars(select(CrmUser).where(CrmUser.username == "petrova")).one()
        assert petrova.record_scope == RecordScope.OWN
    log_in(page, "petrova")
    # The users' list has the common refusal; the imports page says why and whom to ask.
    for address, heading, message in (
        ("/imports/", "Импорт базы клиентов", "Попросите администратора импортировать ваш файл."),
        ("/users/list/", "Нет доступа", "У вас нет доступа к этой странице."),
    ):
        answer = page.goto(address)
        assert answer.status == 403, (address, answer.status)
        expect(page.locator(".panel-title, h1, h2, h3, h4").filter(has_text=heading).first).to_be_visible()
        expect(page.locator("body")).to_contain_text(message)
        navbar = page.locator(".navbar")
        expect(navbar).to_be_visible()
        for item in ("База клиентов", "Запросы", "Воронка", "Мои напоминания"):
            expect(navbar).to_contain_text(item)
        body = page.locator("body")
        for english in ("Forbidden", "Access is Denied", "You don't have the permission", "permission"):
            expect(body).not_to_contain_text(english)
    screenshot(page, "error-403.png")
    page.locator(".crm-error a.btn").click()
    expect(page.locator("h2")).to_contain_text("Сегодня")
