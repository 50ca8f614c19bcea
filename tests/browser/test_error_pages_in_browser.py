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
