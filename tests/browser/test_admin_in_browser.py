"""The head of sales creates a manager restricted to his own records, in a real Chromium; the
manager then logs in and sees only his own clients."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.models import CrmUser
from tests.browser.conftest import log_in
from tests.conftest import PASSWORD
from tests.factories import make_organization


def test_administrator_creates_a_manager_with_scope_own_who_then_sees_only_his_clients(app, browser, live_server):
    with app.app_context():
        sidorov = db.session.scalars(select(CrmUser).where(CrmUser.username == "sidorov")).one()
        make_organization("ООО «Клиент Сидорова»", responsible=sidorov)
    admin = browser.new_context(base_url=live_server, viewport={"width": 1366, "height": 900}, locale="ru-RU")
    page = admin.new_page()
    page.set_default_timeout(10_000)
    log_in(page, "admin")
    page.goto("/users/add")
    page.fill("input[name=first_name]", "Ольга")
    page.fill("input[name=last_name]", "Новикова")
    page.fill("input[name=username]", "novikova")
    page.fill("input[name=email]", "novikova@example.ru")
    page.locator("#s2id_roles, .select2-container").first.click()
    page.keyboard.type("Менеджер")  # roles are shown by their Russian names
    page.keyboard.press("Enter")
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=conf_password]", PASSWORD)
    page.select_option("select[name=record_scope]", "own")
    page.locator("form#model_form button[type=submit], form#model_form input[type=submit]").first.click()
    expect(page.locator(".alert-success")).to_be_visible()
    admin.close()
    with app.app_context():
        created = db.session.scalars(select(CrmUser).where(CrmUser.username == "novikova")).one()
        assert created.record_scope == "own" and [role.name for role in created.roles] == ["Manager"]

    manager = browser.new_context(base_url=live_server, viewport={"width": 1366, "height": 900}, locale="ru-RU")
    page = manager.new_page()
    page.set_default_timeout(10_000)
    log_in(page, "novikova")
    page.goto("/organizationview/list/")
    expect(page.locator("body")).not_to_contain_text("Клиент Сидорова")
    page.goto("/organizationview/add")
    page.fill("input[name=name]", "ООО «Клиент Новиковой»")
    page.locator("form#model_form button[type=submit], form#model_form input[type=submit]").first.click()
    page.goto("/organizationview/list/")
    expect(page.locator("tr.crm-row")).to_have_count(1)
    expect(page.locator("tr.crm-row")).to_contain_text("ООО «Клиент Новиковой»")
    manager.close()
    with app.app_context():
        user = db.session.scalars(select(CrmUser).where(CrmUser.username == "novikova")).one()
        db.session.delete(user)
        db.session.commit()
