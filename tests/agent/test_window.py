"""The first-run window: its logic without a display, then the real tkinter window once under Xvfb."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import keyring
import pytest

from agent.config import CONFIG_FILE
from agent.notifier import Notifier, diagnose_backend
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
    problem = diagnose_backend("NotifySendNotification", {}, {}.get)
    blind = Notifier(recorder, problem=problem)
    assert form.test_popup(blind) is False
    assert form.status == problem and problem.startswith("Не удаётся показать уведомление")


def test_a_window_needs_a_display_on_linux_only() -> None:
    assert display_available({}, "linux") is False
    assert display_available({"DISPLAY": ":0"}, "linux") is True
    assert display_available({}, "win32") is True


@pytest.mark.skipif(shutil.which("Xvfb") is None, reason="needs Xvfb")
def test_the_real_window_under_xvfb(crm: FakeCRM, agent_env: Path, desktop_home: Path, xvfb_display: str) -> None:
    from agent.window import SetupWindow

    agent_env.mkdir(parents=True, exist_ok=True)
    recorder = Recorder()
    window = SetupWindow(SetupForm(home=agent_env, server=crm.url), Notifier(recorder))
    assert window.status.get() == ""  # pop-ups work: nothing to warn about
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
    assert keyring.get_password("zaptrade-agent-token", "ivanov") in crm.devices


@pytest.mark.skipif(shutil.which("Xvfb") is None, reason="needs Xvfb")
def test_after_a_disconnect_the_real_window_reopens_prefilled_and_the_agent_runs_on(
    crm: FakeCRM, agent_env: Path, desktop_home: Path, monkeypatch: pytest.MonkeyPatch, xvfb_display: str
) -> None:
    """``run`` meets the revoked key: one pop-up, then the real window with the server and login filled in;
    the manager types only the password, «Подключить», «Закрыть», and the same process shows the next event."""
    import io
    import signal
    import sys

    from agent.__main__ import main
    from agent.window import SetupWindow

    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["setup", "--server", crm.url, "--username", "ivanov", "--password-stdin"]) == 0
    crm.revoke_devices()
    seen: list[tuple[str, str, bool, str]] = []
    real_run = SetupWindow.run

    def manager_logs_in(window: SetupWindow) -> bool:
        def type_password_and_connect() -> None:
            seen.append((window.server.get(), window.username.get(), window.autostart.get(), window.password.get()))
            window.password.set(PASSWORD)
            window.connect_button.invoke()  # «Подключить»
            crm.add_event("reminder", title="Напоминание: позвонить в ООО «Ромашка»")
            window.connect_button.invoke()  # now «Закрыть»

        window.root.after(100, type_password_and_connect)
        window.root.after(15_000, window.root.destroy)  # a step that went wrong fails the test, not hangs it
        return real_run(window)

    monkeypatch.setattr(SetupWindow, "run", manager_logs_in)
    recorder = Recorder()

    def notify(**kwargs: object) -> None:
        recorder(**kwargs)
        if kwargs["title"].startswith("Напоминание"):
            signal.raise_signal(signal.SIGTERM)  # the session ends (logout): the Agent stops cleanly

    previous = signal.getsignal(signal.SIGTERM)
    try:
        assert main(["run"], notify=notify) == 0
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert seen == [(crm.url, "ivanov", True, "")]  # prefilled, the password never is
    assert recorder.titles == ["Агент отключён — войдите снова", "Напоминание: позвонить в ООО «Ромашка»"]
    assert keyring.get_password("zaptrade-agent-token", "ivanov") in crm.devices


@pytest.mark.skipif(shutil.which("Xvfb") is None, reason="needs Xvfb")
def test_without_a_notification_service_the_window_says_what_to_install_as_it_opens_and_the_log_once(
    crm: FakeCRM, agent_env: Path, desktop_home: Path, monkeypatch: pytest.MonkeyPatch, xvfb_display: str
) -> None:
    """First start outside a desktop session: plyer's notify-send would go nowhere. The window's status line
    says so in Russian before anything is pressed, «Проверить» says it again, and the log has it once."""
    import signal

    import agent.notifier
    from agent.__main__ import main
    from agent.config import LOG_FILE
    from agent.window import SetupWindow

    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    recorder = Recorder()

    def plyer_stand_in(**kwargs: object) -> None:
        recorder(**kwargs)
        if kwargs["title"] == "Новый запрос 2026-0090":
            signal.raise_signal(signal.SIGTERM)  # logout: the Agent stops cleanly

    # plyer as it is on such a machine: the notify-send backend, whose call returns quietly
    monkeypatch.setattr(agent.notifier, "_plyer_notify", lambda: (plyer_stand_in, "NotifySendNotification"))
    monkeypatch.setattr("agent.__main__.bundled_server", lambda: crm.url)  # as in the downloaded file
    expected = diagnose_backend("NotifySendNotification", {}, {}.get)
    seen: list[tuple[str, str]] = []
    real_run = SetupWindow.run

    def manager_looks_checks_and_logs_in(window: SetupWindow) -> bool:
        def steps() -> None:
            on_open = window.status.get()
            window.check_button.invoke()  # «Проверить»
            seen.append((on_open, window.status.get()))
            window.username.set("ivanov")
            window.password.set(PASSWORD)
            window.connect_button.invoke()  # «Подключить»
            crm.add_event("request_created", title="Новый запрос 2026-0090")
            window.connect_button.invoke()  # «Закрыть»

        window.root.after(100, steps)
        window.root.after(15_000, window.root.destroy)  # a step that went wrong fails the test, not hangs it
        return real_run(window)

    monkeypatch.setattr(SetupWindow, "run", manager_looks_checks_and_logs_in)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        assert main([]) == 0
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert seen == [(expected, expected)]
    assert recorder.titles == ["ZapTrade CRM: проверка", "Новый запрос 2026-0090"]
    log_text = (agent_env / LOG_FILE).read_text(encoding="utf-8")
    assert log_text.count(expected) == 1  # not again for «Проверить», the run or the first pop-up
    assert "pop-up for event 1 probably not shown" in log_text
