"""A head of sales brings his Excel client list in, and takes a filtered list out, in Chromium."""

from __future__ import annotations

import io

import openpyxl
from playwright.sync_api import expect
from sqlalchemy import func, select

from app.extensions import db
from app.models import Organization
from tests.background import Background
from tests.browser.conftest import log_in, screenshot
from tests.test_spreadsheets_import import cp1251_csv


def test_upload_mapping_dry_run_and_import_with_the_progress_bar(app, page, tmp_path):
    background = Background(app, tmp_path)
    background.start("worker")
    try:
        log_in(page, "admin")
        page.goto("/")
        page.click("text=База клиентов")
        page.click("a:has-text('Импорт')")
        expect(page.locator("h4.panel-title")).to_have_text("Импорт базы клиентов")
        csv_file = tmp_path / "клиенты.csv"
        csv_file.write_bytes(cp1251_csv())
        page.set_input_files("input[name=file]", str(csv_file))
        page.click("button:has-text('Загрузить')")

        # The mapping: encoding and separator detected, columns guessed from the Russian headers.
        expect(page.locator("#encoding")).to_have_value("cp1251")
        expect(page.locator("#delimiter")).to_have_value(";")
        expect(page.locator("select[name=column-0]")).to_have_value("organization.name")
        expect(page.locator("select[name=column-4]")).to_have_value("contact.full_name")
        expect(page.locator(".crm-import-preview")).to_contain_text("Иванов Пётр")
        screenshot(page, "import-mapping.png")
        page.click("button:has-text('Проверить строки')")

        # The dry run: what happens to every row, nothing written yet.
        expect(page.locator(".crm-import-summary")).to_contain_text("Новых организаций: 2")
        expect(page.locator("tr[data-outcome=error]")).to_have_count(4)
        expect(page.locator("tr[data-outcome=error]").first).to_contain_text("неверная контрольная цифра")
        screenshot(page, "import-dry-run.png")
        with app.app_context():
            assert db.session.scalar(select(func.count(Organization.id))) == 0

        with page.expect_download() as download:
            page.click("a.crm-import-errors")
        errors = openpyxl.load_workbook(io.BytesIO(download.value.path().read_bytes())).worksheets[0]
        assert errors.cell(1, errors.max_column).value == "Ошибка" and errors.max_row == 5

        page.click("button.crm-import-run")
        expect(page.locator(".crm-import-progress")).to_be_visible()
        # The bar fills as the worker reports, and a reload shows where the import stands.
        expect(page.locator(".crm-import-state")).to_have_text("Импортирован", timeout=60_000)
        # The page reloads itself once the import has finished (the server then draws it with
        # no poller); the test's own reload comes after that one, never racing it.
        expect(page.locator(".crm-import-progress")).to_have_attribute("data-running", "0")
        page.reload()
        expect(page.locator(".progress-bar")).to_have_text("100%")
        expect(page.locator(".crm-import-counts")).to_contain_text("Обработано строк: 8 / 8")
        expect(page.locator(".crm-import-counts")).to_contain_text("ошибок: 4")
        screenshot(page, "import-done.png")
        with app.app_context():
            assert db.session.scalar(select(func.count(Organization.id))) == 2

        # The imported clients are in the list, and the list goes out to Excel as filtered.
        page.goto("/organizationview/list/?q=Ромашка")
        with page.expect_download() as download:
            page.click("a.crm-export-xlsx")
        assert download.value.suggested_filename.endswith(".xlsx")
        sheet = openpyxl.load_workbook(io.BytesIO(download.value.path().read_bytes())).worksheets[0]
        assert [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)] == ['ООО "Ромашка"']
    finally:
        background.stop_all()


def test_a_manager_with_scope_own_is_refused(app, page):
    log_in(page, "petrova")
    answer = page.goto("/imports/")
    assert answer.status == 403
    screenshot(page, "import-refused-own-manager.png")
