"""A manager works a request in a real Chromium: suggestions, status with comment, popup, files."""

from __future__ import annotations

import os
import shutil
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from playwright.sync_api import expect
from sqlalchemy import select

from app.domain.requests import add_comment, change_delivery, change_status
from app.extensions import db
from app.models import CrmUser, DeliveryStatus, RequestStatus
from tests.browser.conftest import log_in, screenshot
from tests.factories import make_organization, make_request

# The README's screenshots are refreshed only when asked: UPDATE_DOCS_SCREENSHOTS=1 pytest tests/browser
DOCS = Path(__file__).resolve().parents[2] / "docs"
UPDATE_DOCS = bool(os.environ.get("UPDATE_DOCS_SCREENSHOTS"))


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
    path = screenshot(page, "request-suggestions.png")
    if UPDATE_DOCS:
        shutil.copy(path, DOCS / "request-suggestions.png")
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


def seed_worked_request(app) -> int:
    """A request as the README shows it: a known customer, three items, a price and its terms, a
    status and a delivery history with comments."""
    with app.app_context():
        ivanov = db.session.scalars(select(CrmUser).where(CrmUser.username == "ivanov")).one()
        customer = make_organization(
            "АО «Чебоксарский химкомбинат»",
            city="Чебоксары",
            phones="+7 (8352) 62-40-00",
            responsible=ivanov,
            contacts=[{"full_name": "Павлов Денис Игоревич", "position": "Главный технолог", "is_primary": True}],
        )
        req = make_request(
            customer,
            items=[
                {
                    "equipment_type": "Система очистки",
                    "name": "OUUT",
                    "subname": "X2-300",
                    "capacity": "350",
                    "quantity": 2,
                },
                {"equipment_type": "Насос", "name": "Grundfos", "subname": "CR 10", "capacity": "12", "quantity": 4},
                {"equipment_type": "Фильтр", "name": "Aquaflow", "subname": "A1", "capacity": "100"},
            ],
            author=ivanov,
            created_by=ivanov,
            responsible=ivanov,
            contract_price=Decimal("2480000.00"),
            payment_terms="50 % предоплата, 50 % по факту отгрузки",
            contract_number="ЧХК-2026/117",
            next_step_on=date.today() + timedelta(days=2),
            next_step_text="Согласовать спецификацию с технологом",
        )
        change_status(req, RequestStatus.IN_PROGRESS, "КП отправлено, клиент изучает", ivanov)
        change_delivery(req, DeliveryStatus.PREPARING_SHIPMENT, "Фильтры на складе, насосы под заказ", ivanov)
        add_comment(req, "Павлов просит срок поставки насосов до 15-го числа", ivanov)
        db.session.commit()
        return req.id


def test_status_change_with_comment_shows_in_history_with_author(app, page):
    pk = seed_worked_request(app)
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
    screenshot(page, "request-card-status.png")
    if UPDATE_DOCS:
        # The card from its top, down to the finance part with its file buttons.
        page.set_viewport_size({"width": 1366, "height": 1300})
        page.evaluate("window.scrollTo(0, 0)")
        shutil.copy(screenshot(page, "request-card.png"), DOCS / "request-card.png")


def test_file_buttons_speak_russian_and_show_the_chosen_file(app, page, tmp_path):
    """Chromium's own file input says «Choose File» / «No file chosen» in the browser's language;
    the card's buttons say «Выбрать файл» and then the chosen file's name."""
    pk = seed_worked_request(app)
    log_in(page, "ivanov")
    page.goto(f"/requestview/show/{pk}")
    pickers = page.locator(".crm-file-pick")
    expect(pickers).to_have_count(3)  # price calculation, invoice, document
    for index in range(3):
        expect(pickers.nth(index)).to_have_text("Выбрать файл")
        opacity = pickers.nth(index).locator("input[type=file]").evaluate("input => getComputedStyle(input).opacity")
        assert opacity == "0"
    for english in ("Choose File", "No file chosen"):
        expect(page.locator("body")).not_to_contain_text(english)
    document = tmp_path / "КП для ЧХК.pdf"
    document.write_bytes(b"%PDF-1.4\n%%EOF\n")
    upload = page.locator("form.crm-upload-document")
    upload.locator("input[type=file]").set_input_files(str(document))
    expect(upload.locator(".crm-file-pick")).to_have_text("КП для ЧХК.pdf")
    # Without a file the form is not sent: the browser asks for one.
    invoice = page.locator("form.crm-upload-invoice")
    invoice.locator("button[type=submit]").click()
    assert invoice.locator("input[type=file]").evaluate("input => input.validity.valueMissing")
    expect(page.locator(".crm-timeline-document")).to_have_count(0)


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
