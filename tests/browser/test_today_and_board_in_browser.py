"""A manager's day in a real Chromium: «Сегодня», the board with drag, comment and cancel, the phone."""

from __future__ import annotations

import os
import shutil
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from playwright.sync_api import expect
from sqlalchemy import select, update

from app.domain.reminders import create_reminder
from app.domain.requests import add_comment
from app.extensions import db
from app.models import CrmUser, Request, RequestStatus
from app.models.stamps import utcnow
from tests.browser.conftest import log_in, screenshot
from tests.factories import make_organization, make_request

# The README's screenshots are refreshed only when asked: UPDATE_DOCS_SCREENSHOTS=1 pytest tests/browser
DOCS = Path(__file__).resolve().parents[2] / "docs"
UPDATE_DOCS = bool(os.environ.get("UPDATE_DOCS_SCREENSHOTS"))


def user(username: str) -> CrmUser:
    return db.session.scalars(select(CrmUser).where(CrmUser.username == username)).one()


def seed(app) -> dict:
    with app.app_context(), app.test_request_context():
        petrova, sidorov = user("petrova"), user("sidorov")
        made = {}
        for name, price, currency, status, step in [
            ("ООО «Водоканал Чебоксары»", "1250000", "RUB", RequestStatus.PREPARING_OFFER, None),
            ("АО «Химпром»", "845000", "RUB", RequestStatus.PREPARING_OFFER, date.today()),
            ("ООО «Аквасервис»", "18500", "USD", RequestStatus.IN_PROGRESS, date.today() + timedelta(days=2)),
            ("ПАО «Татнефть»", "3200000", "RUB", RequestStatus.STALLED, None),
            ("ООО «Теплосеть»", "560000", "RUB", RequestStatus.COMPLETED, None),
        ]:
            organization = make_organization(name, responsible=petrova)
            request = make_request(
                organization,
                items=[{"equipment_type": "Система очистки", "name": "OUUT", "subname": "X2-200"}],
                responsible=petrova,
                author=petrova,
                status=status,
                contract_price=Decimal(price),
                currency=currency,
                next_step_on=step,
                next_step_text="Отправить КП" if step else None,
            )
            made[name] = request
        quiet = made["ООО «Водоканал Чебоксары»"]
        db.session.execute(
            update(Request).where(Request.id == quiet.id).values(last_activity_at=utcnow() - timedelta(days=21))
        )
        overdue = utcnow() - timedelta(hours=1)
        create_reminder(db.session, petrova, "Позвонить главному технологу", overdue, request=quiet)
        create_reminder(db.session, petrova, "Уточнить сроки поставки", utcnow() + timedelta(minutes=30))
        add_comment(db.session.get(Request, made["ООО «Аквасервис»"].id), "Клиент просит скидку 5 %", petrova)
        foreign = make_organization("ООО «Чужой клиент»", responsible=sidorov)
        make_request(foreign, responsible=sidorov, author=sidorov)
        db.session.commit()
        return {name: (request.id, request.number) for name, request in made.items()}


def test_her_day_starts_on_today_and_a_reminder_is_done_in_place(app, page):
    seed(app)
    log_in(page, "petrova")
    page.goto("/")
    expect(page.locator("h2")).to_contain_text("Сегодня")
    reminders = page.locator("#today-reminders")
    expect(reminders.locator(".crm-count")).to_have_text("2")
    needs = page.locator("#today-needs-action")
    expect(needs).to_contain_text("ООО «Водоканал Чебоксары»")
    expect(needs).to_contain_text("ПАО «Татнефть»")
    expect(needs).to_contain_text("АО «Химпром»")
    expect(needs.locator(".crm-count")).to_have_text("3")
    expect(page.locator("#today-events")).to_contain_text("Клиент просит скидку 5 %")
    expect(page.locator("body")).not_to_contain_text("Чужой клиент")
    if UPDATE_DOCS:
        shutil.copy(screenshot(page, "today.png"), DOCS / "start-page-today.png")
    reminders.locator("tr", has_text="Позвонить главному технологу").get_by_role("button", name="Выполнено").click()
    expect(page.locator(".alert-success")).to_contain_text("Отмечено")
    expect(page.locator("#today-reminders")).not_to_contain_text("Позвонить главному технологу")
    expect(page).to_have_url(page.url)  # still on the start page
    page.locator("#today-needs-action .crm-block-all").click()
    expect(page.locator("tr.crm-row")).to_have_count(3)


def _the_head_on_petrovas_day(app, page) -> int:
    """The seeded base; the administrator looking at Петрова's «Сегодня». Her id."""
    seed(app)
    with app.app_context():
        petrova_id = user("petrova").id
    log_in(page, "admin")
    page.goto(f"/?manager={petrova_id}")
    return petrova_id


def test_the_head_looks_at_a_managers_day_and_opens_all_her_reminders(app, page):
    _the_head_on_petrovas_day(app, page)
    reminders = page.locator("#today-reminders")
    expect(reminders.locator(".crm-count")).to_have_text("2")
    reminders.locator(".crm-block-all").click()
    expect(page.locator(".crm-reminders .panel-title")).to_have_text("Напоминания: Мария Петрова")
    expect(page.locator("#overdue + table")).to_contain_text("Позвонить главному технологу")
    expect(page.locator(".crm-reminders")).to_contain_text("Уточнить сроки поставки")
    expect(page.get_by_role("link", name="Только мои")).to_be_visible()
    screenshot(page, "reminders-of-a-manager.png")


def test_the_head_moves_the_stalled_line_on_the_radar_page_and_the_day_follows(app, page):
    petrova_id = _the_head_on_petrovas_day(app, page)
    expect(page.locator("#today-needs-action")).to_contain_text("ООО «Водоканал Чебоксары»")  # 21 quiet days
    page.get_by_role("link", name="Настройки").click()
    page.get_by_role("link", name="Радар застоя").click()
    expect(page.locator(".crm-radar-settings .panel-title")).to_have_text("Радар застоя")
    days = page.get_by_label("Застрял после, дней без активности")
    expect(days).to_have_value("14")
    days.fill("0")
    page.get_by_role("button", name="Сохранить").click()
    expect(page.locator(".crm-field-error")).to_have_text("Введите целое число дней от 1 до 365.")
    days.fill("30")
    page.get_by_label("Напоминать ответственному").check()
    page.get_by_role("button", name="Сохранить").click()
    expect(page.locator(".alert-success")).to_contain_text("Сохранено")
    expect(page.locator(".crm-radar-changed")).to_contain_text("Администратор")
    screenshot(page, "radar-settings.png")
    page.goto(f"/?manager={petrova_id}")
    needs = page.locator("#today-needs-action")
    expect(needs).to_contain_text("30 дн.")
    expect(needs).not_to_contain_text("ООО «Водоканал Чебоксары»")
    expect(needs).to_contain_text("ПАО «Татнефть»")  # «Затормозилось» is on the radar whatever the days


def drag(page, card, column) -> None:
    """A mouse drag as a hand does it: press, move in steps, release over the other column."""
    box, target = card.bounding_box(), column.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 12)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 20, box["y"] + 30, steps=5)
    page.mouse.move(target["x"] + target["width"] / 2, target["y"] + 40, steps=15)
    page.mouse.up()


def test_a_card_dragged_to_another_column_asks_the_comment_and_cancel_puts_it_back(app, page):
    made = seed(app)
    request_id, number = made["АО «Химпром»"]
    log_in(page, "petrova")
    page.goto("/board/")
    preparing = page.locator('.crm-board-cards[data-status="preparing_offer"]')
    in_progress = page.locator('.crm-board-cards[data-status="in_progress"]')
    head = page.locator('.crm-board-column[data-status="preparing_offer"] header')
    expect(head.locator(".crm-column-count")).to_have_text("2")
    expect(head).to_contain_text("2\u00a0095\u00a0000,00\u00a0₽")
    card = page.locator(f'.crm-board-card[data-request-id="{request_id}"]')
    expect(card).to_contain_text("АО «Химпром»")
    if UPDATE_DOCS:
        shutil.copy(screenshot(page, "board.png"), DOCS / "board.png")

    drag(page, card, in_progress)
    dialog = page.locator("#crm-move-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(number)
    expect(dialog.locator("select[name=status]")).to_have_value("in_progress")
    dialog.locator(".crm-move-cancel").click()
    expect(dialog).to_be_hidden()
    expect(preparing.locator(f'[data-request-id="{request_id}"]')).to_have_count(1)
    expect(in_progress.locator(f'[data-request-id="{request_id}"]')).to_have_count(0)

    drag(page, card, in_progress)
    expect(dialog).to_be_visible()
    dialog.locator("textarea[name=comment]").fill("Техзадание согласовано, готовим договор")
    dialog.get_by_role("button", name="Сменить статус").click()
    expect(page.locator(".alert-success")).to_contain_text("Статус изменён")
    expect(in_progress.locator(f'[data-request-id="{request_id}"]')).to_have_count(1)
    expect(page.locator('.crm-board-column[data-status="preparing_offer"] .crm-column-count')).to_have_text("1")

    page.goto(f"/requestview/show/{request_id}")
    history = page.locator("#status")
    expect(history).to_contain_text("Техзадание согласовано, готовим договор")
    expect(history).to_contain_text("В работе")


def test_on_a_phone_the_card_has_a_change_status_button_instead_of_drag(app, browser, live_server):
    made = seed(app)
    request_id, _ = made["ООО «Аквасервис»"]
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
    try:
        log_in(page, "petrova")
        page.goto("/")
        expect(page.locator("#today-needs-action")).to_be_visible()
        wide = page.evaluate(
            "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 391)"
            ".map(e => e.tagName + '.' + e.className).slice(0, 8)"
        )
        assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1, wide  # no sideways page scroll
        screenshot(page, "today-phone.png")
        page.goto("/board/")
        card = page.locator(f'.crm-board-card[data-request-id="{request_id}"]')
        card.scroll_into_view_if_needed()
        button = card.get_by_role("button", name="Сменить статус")
        expect(button).to_be_visible()
        button.tap()
        dialog = page.locator("#crm-move-dialog")
        expect(dialog).to_be_visible()
        dialog.locator("select[name=status]").select_option("completed")
        dialog.locator("textarea[name=comment]").fill("Оплата получена")
        dialog.get_by_role("button", name="Сменить статус").tap()
        expect(page.locator(".alert-success")).to_contain_text("Статус изменён")
        completed = page.locator('.crm-board-cards[data-status="completed"]')
        expect(completed.locator(f'[data-request-id="{request_id}"]')).to_have_count(1)
        screenshot(page, "board-phone.png")
    finally:
        context.close()


def test_the_head_of_sales_reads_the_report_with_its_charts(app, page):
    made = seed(app)
    with app.app_context(), app.test_request_context():
        from app.domain.requests import change_status

        for name in ("ООО «Аквасервис»", "АО «Химпром»"):
            request = db.session.get(Request, made[name][0])
            change_status(request, RequestStatus.COMPLETED, "Договор подписан, оплата получена", user("petrova"))
        db.session.commit()
    log_in(page, "admin")
    page.goto("/")
    page.locator(".crm-reports-link").click()
    expect(page.locator("h2")).to_contain_text("Отчёты")
    expect(page.locator(".crm-figure-received")).to_have_text("6")  # hers and a colleague's
    expect(page.locator(".crm-figure-won")).to_have_text("3")
    expect(page.locator(".crm-figure-sums")).to_contain_text("18\u00a0500,00\u00a0$")
    drawn = page.evaluate("document.getElementById('crm-chart-months').toDataURL().length")
    assert drawn > 5000  # Chart.js drew the bars
    if UPDATE_DOCS:
        shutil.copy(screenshot(page, "reports.png"), DOCS / "reports.png")
    page.locator(".crm-figure-won").click()
    expect(page.locator("tr.crm-row")).to_have_count(3)
