"""Reminders in a real Chromium: the «Мои напоминания» signal, and setting one from a request row
and from the navigation bar."""

from __future__ import annotations

import os
import shutil
from datetime import timedelta
from pathlib import Path

from playwright.sync_api import expect
from sqlalchemy import select

from app.domain import reminders as reminder_domain
from app.extensions import db
from app.models import CrmUser, Reminder
from app.models.stamps import utcnow
from tests.browser.conftest import log_in, screenshot
from tests.factories import make_organization, make_request

# The README's screenshots are refreshed only when asked: UPDATE_DOCS_SCREENSHOTS=1 pytest tests/browser
DOCS = Path(__file__).resolve().parents[2] / "docs"
UPDATE_DOCS = bool(os.environ.get("UPDATE_DOCS_SCREENSHOTS"))


def test_the_signal_shows_todays_count_after_login(app, page):
    overdue, today, later = (
        "Позвонить главному технологу: согласовать спецификацию",
        "Отправить коммерческое предложение",
        "Встреча на объекте: осмотр насосной станции",
    )
    with app.app_context():
        ivanov = db.session.scalars(select(CrmUser).where(CrmUser.username == "ivanov")).one()
        request = make_request(make_organization("АО «Химпром»"), responsible=ivanov, author=ivanov)
        client = make_organization("ООО «Водоканал Чебоксары»", responsible=ivanov)
        reminder_domain.create_reminder(db.session, ivanov, overdue, utcnow() - timedelta(hours=3), request=request)
        reminder_domain.create_reminder(db.session, ivanov, today, utcnow() + timedelta(minutes=2), organization=client)
        reminder_domain.create_reminder(db.session, ivanov, later, utcnow() + timedelta(days=7))
        db.session.commit()
    log_in(page, "ivanov")
    signal = page.locator("a.crm-my-reminders")
    expect(signal).to_contain_text("Мои напоминания")
    expect(signal.locator(".crm-due-count")).to_have_text("2")
    signal.click()
    expect(page.locator(".crm-reminders-overdue")).to_contain_text(overdue)
    expect(page.locator(".crm-reminders-today")).to_contain_text(today)
    expect(page.locator(".crm-reminders-upcoming")).to_contain_text(later)
    path = screenshot(page, "reminders.png")
    if UPDATE_DOCS:
        shutil.copy(path, DOCS / "reminders.png")
    page.locator(".crm-reminders-overdue").get_by_role("button", name="Выполнено").click()
    expect(page.locator("a.crm-my-reminders .crm-due-count")).to_have_text("1")


def test_setting_a_reminder_from_a_request_row(app, page):
    with app.app_context():
        number = make_request(make_organization("ООО «Ряд»")).number
    log_in(page, "ivanov")
    page.goto("/requestview/list/")
    row = page.locator("tr.crm-row", has_text=number)
    row.hover()
    row.get_by_role("link", name="Напоминание").click()
    expect(page.locator(".crm-reminder-about")).to_contain_text(number)
    page.fill("textarea[name=text]", "Уточнить сроки поставки")
    page.get_by_role("button", name="Завтра в 9:00").click()
    expect(page.locator(".alert-success")).to_contain_text("Напоминание установлено на")
    with app.app_context():
        reminder = db.session.scalars(select(Reminder)).one()
        assert reminder.request.number == number and reminder.text == "Уточнить сроки поставки"


def test_setting_a_personal_reminder_from_the_navigation_bar(app, page):
    log_in(page, "ivanov")
    page.goto("/organizationview/list/")
    page.locator("a.crm-new-reminder").click()
    expect(page.locator(".crm-reminder-about")).to_contain_text("Личное напоминание")
    page.fill("textarea[name=text]", "Заказать визитки")
    page.fill("input[name=due]", "2031-02-03T10:15")
    page.get_by_role("button", name="Напомнить").click()
    expect(page.locator(".alert-success")).to_contain_text("03.02.2031 10:15")
    assert page.url.endswith("/organizationview/list/")  # back where the manager was
    with app.app_context():
        reminder = db.session.scalars(select(Reminder)).one()
        assert reminder.organization_id is None and reminder.request_id is None
