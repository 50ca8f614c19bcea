"""The «Агент» page in a real Chromium: reached from the profile menu, the download, her computers with
«Отключить»; the administrator sees everyone's."""

from __future__ import annotations

import json
import zipfile

from playwright.sync_api import expect
from sqlalchemy import select

from agent.client import Client
from app.extensions import db
from app.models import AgentDevice
from tests.browser.conftest import log_in, screenshot
from tests.conftest import PASSWORD

WINDOW_STEP = (
    "В окне Агента введите логин и пароль и нажмите «Подключить»: дальше он будет запускаться при каждом входе "
    "в систему."
)


def test_manager_finds_the_agent_page_and_disconnects_her_computer(app, page, live_server):
    Client(live_server).connect("petrova", PASSWORD, "ПК Петровой (Windows)")
    Client(live_server).connect("sidorov", PASSWORD, "Ноутбук Сидорова (Linux)")
    log_in(page, "petrova")
    page.goto("/agent-settings/")
    expect(page.locator("a[href$='/agent-settings/']").first).to_have_count(1)
    windows, linux = page.locator(".crm-agent-windows"), page.locator(".crm-agent-linux")
    expect(windows.locator(".crm-agent-download")).to_have_text("Скачать для Windows")
    expect(linux.locator(".crm-agent-download")).to_have_text("Скачать для Linux")
    expect(windows.locator("li")).to_have_text(
        [
            "Установите Python 3 с python.org, если его ещё нет (подойдут настройки по умолчанию: "
            "в них есть py launcher и tcl/tk).",
            "Скачайте Агент и дважды щёлкните файл zaptrade-agent.pyzw: он откроется без окна консоли.",
            WINDOW_STEP,
        ]
    )
    expect(linux.locator("li")).to_have_text(
        [
            "Скачайте Агент. Python 3 в системе уже есть; для окна и уведомлений: "
            "sudo apt install python3-tk libnotify-bin",
            "Запустите: python3 ~/Загрузки/zaptrade-agent.pyz",
            WINDOW_STEP,
        ]
    )
    for block, name in ((windows, "zaptrade-agent.pyzw"), (linux, "zaptrade-agent.pyz")):
        with page.expect_download() as download_info:
            block.locator(".crm-agent-download").click()
        download = download_info.value
        assert download.suggested_filename == name
        with zipfile.ZipFile(download.path()) as archive:  # the Agent itself, with the server written in
            assert json.loads(archive.read("agent/server.json")) == {"server": live_server}
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
