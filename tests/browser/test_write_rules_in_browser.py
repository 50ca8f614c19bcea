"""Refused writes explain themselves on the record's page, in a real Chromium."""

from __future__ import annotations

import shutil

from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.models import CrmUser, Organization
from tests.browser.conftest import log_in, screenshot
from tests.factories import make_organization, make_request


def _user(username: str) -> CrmUser:
    return db.session.scalars(select(CrmUser).where(CrmUser.username == username)).one()


def _shared_client(app) -> int:
    """Сидоров's client where Петрова has one request of her own."""
    with app.app_context(), app.test_request_context():
        petrova, sidorov = _user("petrova"), _user("sidorov")
        shared = make_organization("ООО «Общий завод»", responsible=sidorov, contacts=[{"full_name": "Общий Олег"}])
        make_request(shared, responsible=petrova, author=petrova)
        return shared.id


def test_a_manager_opening_a_colleagues_client_for_editing_is_told_why_not(app, page):
    pk = _shared_client(app)
    log_in(page, "petrova")
    page.goto(f"/organizationview/edit/{pk}")
    expect(page).to_have_url(f"{page.url.split('/organizationview')[0]}/organizationview/show/{pk}")
    expect(page.locator(".alert-danger")).to_contain_text("Это клиент коллеги")
    shutil.copy(screenshot(page, "shared-client-edit-refused.png"), "/tmp/access-shared-client-edit-refused.png")


def test_the_administrator_deleting_a_client_with_requests_is_told_how_many(app, page):
    pk = _shared_client(app)
    log_in(page, "admin")
    page.goto("/organizationview/list/")
    row = page.locator("tr.crm-row", has_text="Общий завод")
    row.hover()
    row.locator(".crm-row-actions a.confirm").click()
    page.locator("#modal-confirm-ok").click()
    expect(page.locator(".alert-danger")).to_contain_text("У организации есть запросы (1): удалите или перенесите их")
    expect(page).to_have_url(f"{page.url.split('/organizationview')[0]}/organizationview/list/")  # back where he was
    shutil.copy(screenshot(page, "delete-refused.png"), "/tmp/access-delete-refused.png")
    with app.app_context():
        assert db.session.get(Organization, pk) is not None
