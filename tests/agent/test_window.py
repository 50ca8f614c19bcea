"""The first-run window: its logic without a display, then the real tkinter window once under Xvfb."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import keyring
import pytest

from agent.config import CONFIG_FILE
from agent.notifier import Notifier
from agent.window import SetupForm, display_available
from tests.agent.fake_crm import PASSWORD, FakeCRM
from tests.agent.support import Recorder


@pytest.fixture
def desktop_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Autostart files go to a private XDG folder, never the real one."""
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "user" / ".config"))
    return tmp_path / "user" / ".config"


def test_the_form_refuses_empty_fields_in_russian(agent_env: Path) -> None:
    form = SetupForm(home=agent_env, server="ftp://x")
    assert form.validate() is False
    assert form.errors == {
        "server": "Нужен адрес вида https://crm.example.ru",
        "username": "Введите логин.",
        "password": "Введите пароль.",
    }


def test_connect_stores_the_token_installs_autostart_and_forgets_the_password(
    crm: FakeCRM, agent_env: Path, desktop_home: Path
) -> None:
    agent_env.mkdir(parents=True, exist_ok=True)
    form = SetupForm(home=agent_env, server=crm.url, username=" ivanov ", password=PASSWORD)
    assert form.autostart is True  # «Запускать при входе в систему» is ticked by default
    assert form.submit() is True
    assert form.password == ""
    assert "Агент подключён" in form.status and "хранилище паролей системы" in form.status
    assert "при входе в систему" in form.status
    assert keyring.get_password("zaptrade-agent-token", "ivanov") in crm.devices
    desktop = desktop_home / "autostart" / "zaptrade-agent.desktop"
    assert "agent run" in desktop.read_text(encoding="utf-8")
    assert json.loads((agent_env / CONFIG_FILE).read_text())["server"] == crm.url


def test_a_wrong_password_says_so_and_stores_nothing(crm: FakeCRM, agent_env: Path, desktop_home: Path) -> None:
    agent_env.mkdir(parents=True, exist_ok=True)
    form = SetupForm(home=agent_env, server=crm.url, username="ivanov", password="wrong")
    assert form.submit() is False
    assert form.status == "Неверный логин или пароль." and form.password == ""
    assert not (agent_env / CONFIG_FILE).exists() and not (desktop_home / "autostart").exists()


def test_check_shows_a_test_popup_or_says_why_not(agent_env: Path) -> None:
    recorder = Recorder()
    form = SetupForm(home=agent_env)
    assert form.test_popup(Notifier(recorder)) is True
    assert recorder.titles == ["ZapTrade CRM: проверка"] and "отправлено" in form.status
    blind = Notifier(recorder, problem="no D-Bus session bus; start it from the desktop session")
    assert form.test_popup(blind) is False
    assert "не показано" in form.status and "D-Bus" in form.status


def test_a_window_needs_a_display_on_linux_only() -> None:
    assert display_available({}, "linux") is False
    assert display_available({"DISPLAY": ":0"}, "linux") is True
    assert display_available({}, "win32") is True


@pytest.mark.skipif(shutil.which("Xvfb") is None, reason="needs Xvfb")
def test_the_real_window_under_xvfb(crm: FakeCRM, agent_env: Path, desktop_home: Path, monkeypatch) -> None:
    number = 150 + os.getpid() % 100
    xvfb = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "800x600x24", "-nolisten", "tcp"])
    try:
        for _ in range(100):
            if Path(f"/tmp/.X11-unix/X{number}").exists():
                break
            time.sleep(0.05)
        monkeypatch.setenv("DISPLAY", f":{number}")
        from agent.window import SetupWindow

        agent_env.mkdir(parents=True, exist_ok=True)
        recorder = Recorder()
        window = SetupWindow(SetupForm(home=agent_env, server=crm.url), lambda: Notifier(recorder))
        window.root.update()
        assert window.server.get() == crm.url  # prefilled
        assert window.autostart.get() is True
        window.check_button.invoke()  # «Проверить»
        assert recorder.titles == ["ZapTrade CRM: проверка"]
        window.username.set("ivanov")
        window.password.set(PASSWORD)
        window.connect_button.invoke()
        window.root.update()
        assert window.done is True and "Агент подключён" in window.status.get()
        assert window.password.get() == ""
        assert window.connect_button.cget("text") == "Закрыть"
        window.root.destroy()
    finally:
        xvfb.terminate()
        xvfb.wait(timeout=10)
    assert keyring.get_password("zaptrade-agent-token", "ivanov") in crm.devices
