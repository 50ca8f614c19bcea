"""A manager works a request in a real Chromium: suggestions, status with comment, popup, files."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from tests.browser.conftest import log_in, screenshot
from tests.factories import make_organization, make_request


def seed(app) -> int:
    with app.app_context():
        known = make_organization("ООО «Известный»")
        make_request(
            known,
            items=[
                {"equipment_type": "Система очистки", "name": "OUUT", "subname": "X2-200", "capacity": "227"},
                {"equipment_type": "Система очистки", "name": "OUUT", "subname": "X2-300", "capacity": "350"},
                {"equipment_type": "Система очистки", "name": "Aquaflow", "subname": "A1", "capacity": "100"},
                {"equipment_type": "Насос", "name": "Grundfos", "subname": "CR 10", "capacity": "12"},
            ],
        )
        return make_organization(
            "АО «Химпром»",
            phones="+7 (8352) 00-11-22",
            contacts=[{"full_name": "Павлов Денис", "position": "Главный технолог", "email": "pavlov@himprom.ru"}],
        ).id


def suggestions(page):
    return page.locator(".crm-suggestions a")


def test_creating_a_request_with_two_items_using_narrowing_suggestions(app, page):
    org_id = seed(app)
    log_in(page, "ivanov")
    page.goto(f"/requestview/add?_flt_0_organization={org_id}")
    first = page.locator("tr.crm-item-row").nth(0)
    first.locator("[data-catalogue-field=equipment_type]").fill("сист")
    expect(suggestions(page)).to_have_text(["Система очистки"])
    suggestions(page).first.click()
    # The name field now offers only names seen with this type: no Grundfos.
    expect(suggestions(page)).to_have_text(["OUUT", "Aquaflow"])
    screenshot(page, "request-suggestions.png")
    suggestions(page).get_by_text("OUUT").click()
    expect(suggestions(page)).to_have_text(["X2-200", "X2-300"])
    suggestions(page).get_by_text("X2-300").click()
    expect(suggestions(page)).to_have_text(["350"])
    suggestions(page).first.click()
    first.locator("input[name$=quantity]").fill("2")

    page.get_by_role("button", name="Добавить позицию").click()
    second = page.locator("tr.crm-item-row").nth(1)
    second.locator("[data-catalogue-field=equipment_type]").fill("Насос")
    second.locator("[data-catalogue-field=name]").click()
    expect(suggestions(page)).to_have_text(["Grundfos"])
    suggestions(page).first.click()
    page.locator("form#model_form button[type=submit], form#model_form input[type=submit]").first.click()

    expect(page.locator(".crm-request-number")).to_have_text(__import__("re").compile(r"\d{4}-\d{4}"))
    items = page.locator(".crm-request-items tbody tr")
    expect(items).to_have_count(2)
    expect(items.nth(0)).to_contain_text("X2-300")
    expect(items.nth(1)).to_contain_text("Grundfos")
    expect(page.locator(".crm-request-head")).to_contain_text("АО «Химпром»")


def test_status_change_with_comment_shows_in_history_with_author(app, page):
    with app.app_context():
        pk = make_request(make_organization("ООО «Статусы»")).id
    log_in(page, "ivanov")
    page.goto(f"/requestview/show/{pk}")
    form = page.locator("#crm-status-form")
    form.locator("select").select_option("stalled")
    form.locator("textarea").fill("Клиент взял паузу до января")
    form.get_by_role("button", name="Изменить").click()
    history = page.locator("#status .crm-history tbody tr").first
    expect(history).to_contain_text("Затормозилось")
    expect(history).to_contain_text("Клиент взял паузу до января")
    expect(history).to_contain_text("Иван Иванов")
    screenshot(page, "request-card.png")


def test_customer_popup_opens_from_the_requests_list(app, page):
    seed(app)
    with app.app_context():
        from app.extensions import db
        from app.models import Organization

        make_request(db.session.get(Organization, 2) or make_organization("ООО Резерв"))
    log_in(page, "ivanov")
    page.goto("/requestview/list/")
    page.locator("tr.crm-row a.crm-card-link").first.click()
    card = page.locator("#crm-card-modal")
    expect(card).to_be_visible()
    expect(card.locator(".crm-card-name")).not_to_be_empty()


def test_uploading_and_downloading_a_document(app, page, tmp_path):
    with app.app_context():
        pk = make_request(make_organization("ООО «Файлы»")).id
    document = tmp_path / "Спецификация к договору.pdf"
    document.write_bytes(b"%PDF-1.4\n%%EOF\n")
    log_in(page, "ivanov")
    page.goto(f"/requestview/show/{pk}")
    form = page.locator("form.crm-upload-document")
    form.locator("input[type=file]").set_input_files(str(document))
    form.locator("select").select_option(label="Спецификация")
    form.locator("input[name=comment]").fill("Подписанная версия")
    form.get_by_role("button", name="Прикрепить документ").click()
    entry = page.locator(".crm-timeline-document").first
    expect(entry).to_contain_text("Спецификация к договору.pdf")
    expect(entry).to_contain_text("Иван Иванов")
    with page.expect_download() as download_info:
        entry.get_by_role("link", name="Спецификация к договору.pdf").click()
    download = download_info.value
    assert download.suggested_filename == "Спецификация к договору.pdf"
    assert Path(download.path()).read_bytes() == b"%PDF-1.4\n%%EOF\n"
