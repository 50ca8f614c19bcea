"""The «Агент» page in a real Chromium: reached from the profile menu, the download, her computers with
«Отключить»; the administrator sees everyone's."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from agent.client import Client
from app.extensions import db
from app.models import AgentDevice
from tests.browser.conftest import log_in, screenshot
from tests.conftest import PASSWORD


def test_manager_finds_the_agent_page_and_disconnects_her_computer(app, page, live_server):
    Client(live_server).connect("petrova", PASSWORD, "ПК Петровой (Windows)")
    Client(live_server).connect("sidorov", PASSWORD, "Ноутбук Сидорова (Linux)")
    log_in(page, "petrova")
    page.goto("/agent-settings/")
    expect(page.locator("a[href$='/agent-settings/']").first).to_have_count(1)
    expect(page.locator(".crm-agent-download")).to_have_text("Скачать Агент")
    expect(page.locator(".crm-agent-windows li")).to_have_count(3)
    expect(page.locator(".crm-agent-linux li")).to_have_count(3)
    devices = page.locator(".crm-agent-devices")
    expect(devices).to_contain_text("ПК Петровой (Windows)")
    expect(devices).not_to_contain_text("Сидоров")
    screenshot(page, "agent-page-manager.png")
    devices.get_by_role("button", name="Отключить").click()
    expect(page.locator(".crm-agent-no-devices")).to_be_visible()
    with app.app_context():
        revoked = {d.name: d.revoked_on is not None for d in db.session.scalars(select(AgentDevice))}
    assert revoked == {"ПК Петровой (Windows)": True, "Ноутбук Сидорова (Linux)": False}


def test_administrator_sees_every_connected_computer(app, page, live_server):
    Client(live_server).connect("petrova", PASSWORD, "ПК Петровой (Windows)")
    Client(live_server).connect("sidorov", PASSWORD, "Ноутбук Сидорова (Linux)")
    log_in(page, "admin")
    page.goto("/agent-settings/")
    devices = page.locator(".crm-agent-devices")
    expect(devices).to_contain_text("petrova")
    expect(devices).to_contain_text("Ноутбук Сидорова (Linux)")
    screenshot(page, "agent-page-admin.png")
