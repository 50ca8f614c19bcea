"""``python -m agent`` commands against the real HTTP test server, in-process and as real subprocesses."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail

from agent import autostart
from agent.__main__ import main
from agent.config import CONFIG_FILE, CURSOR_FILE, LOG_FILE
from tests.agent.fake_crm import PASSWORD, FakeCRM, encode_cursor
from tests.agent.support import Recorder

ROOT = Path(autostart.package_root())


def _setup(crm: FakeCRM, monkeypatch: pytest.MonkeyPatch, password: str = PASSWORD) -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(password + "\n"))
    return main(["setup", "--server", crm.url + "/", "--username", "ivanov", "--password-stdin"])


def _all_files_text(folder: Path) -> str:
    return "".join(p.read_text(encoding="utf-8", errors="replace") for p in folder.rglob("*") if p.is_file())


def test_setup_stores_a_device_token_in_the_keyring_and_never_the_password(
    crm: FakeCRM, monkeypatch: pytest.MonkeyPatch, agent_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crm.settings["poll_seconds"] = 45
    crm.add_events(2)
    assert _setup(crm, monkeypatch) == 0
    out = capsys.readouterr().out
    assert "Готово" in out and "хранилище паролей системы" in out
    config = json.loads((agent_env / CONFIG_FILE).read_text(encoding="utf-8"))
    assert config == {"server": crm.url, "username": "ivanov", "poll_seconds": 45, "token_store": "keyring"}
    token = keyring.get_password("zaptrade-agent-token", "ivanov")
    assert token in crm.devices and crm.devices[token] == "ivanov"
    assert keyring.get_password("zaptrade-agent", "ivanov") is None  # no password in the keyring either
    assert PASSWORD not in _all_files_text(agent_env)  # not in the config, the cursor or the log
    assert not (agent_env / "token").exists()
    # the feed's "now" is taken at setup: what happens before the first run is caught up, not skipped
    assert json.loads((agent_env / CURSOR_FILE).read_text())["cursor"] == encode_cursor(2)
    assert crm.device_names and crm.device_names[0]  # the «Агент» page lists the computer by name


def test_interactive_setup(crm: FakeCRM, monkeypatch: pytest.MonkeyPatch, agent_env: Path) -> None:
    answers = iter([crm.url, "ivanov"])
    prompts: list[str] = []

    def fake_input(prompt: str) -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr("builtins.input", fake_input)
    monkeypatch.setattr("getpass.getpass", lambda prompt: PASSWORD)
    assert main(["setup"]) == 0
    assert prompts[0].startswith("Адрес сервера CRM") and prompts[1].startswith("Логин")
    assert json.loads((agent_env / CONFIG_FILE).read_text())["username"] == "ivanov"


def test_setup_with_a_wrong_password_stores_nothing(
    crm: FakeCRM, monkeypatch: pytest.MonkeyPatch, agent_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _setup(crm, monkeypatch, password="wrong") == 1
    assert "Неверный логин или пароль" in capsys.readouterr().err
    assert not (agent_env / CONFIG_FILE).exists()
    assert keyring.get_password("zaptrade-agent-token", "ivanov") is None
    assert not (agent_env / "token").exists()


def test_without_an_os_keyring_the_token_goes_to_a_file_only_the_user_can_read(
    crm: FakeCRM, monkeypatch: pytest.MonkeyPatch, agent_env: Path, capsys: pytest.CaptureFixture[str], recorder
) -> None:
    keyring.set_keyring(fail.Keyring())  # a Linux desktop without GNOME Keyring or KWallet
    assert _setup(crm, monkeypatch) == 0
    assert "в файле" in capsys.readouterr().out  # the Agent says where
    token_file = agent_env / "token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert token_file.read_text().strip() in crm.devices
    assert json.loads((agent_env / CONFIG_FILE).read_text())["token_store"] == "file"
    assert PASSWORD not in _all_files_text(agent_env)
    crm.add_event("reminder", title="Напоминание")
    assert main(["run", "--once"], notify=recorder) == 0  # unattended: no keyring, no prompt
    assert recorder.titles == ["Напоминание"]


def test_disconnected_agent_forgets_its_token_and_says_how_to_log_in_again(
    crm: FakeCRM, monkeypatch: pytest.MonkeyPatch, agent_env: Path, capsys: pytest.CaptureFixture[str], recorder
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert _setup(crm, monkeypatch) == 0
    crm.revoke_devices()
    assert main(["run"], notify=recorder) == 2
    assert recorder.titles == ["Агент отключён — войдите снова"]
    assert "войдите снова" in capsys.readouterr().err
    assert keyring.get_password("zaptrade-agent-token", "ivanov") is None
    assert _setup(crm, monkeypatch) == 0  # logging in again connects anew
    assert main(["run", "--once"], notify=recorder) == 0


def test_setup_with_the_server_down(
    crm: FakeCRM, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    crm.stop()
    assert _setup(crm, monkeypatch) == 1
    assert "Не удалось связаться с сервером" in capsys.readouterr().err


def test_run_once_catches_up_from_setup(
    crm: FakeCRM, monkeypatch: pytest.MonkeyPatch, recorder: Recorder, agent_env: Path
) -> None:
    assert _setup(crm, monkeypatch) == 0
    crm.add_event("request_comment", title="Комментарий к запросу 2026-0001", message="Клиент просит скидку")
    assert main(["run", "--once"], notify=recorder) == 0
    assert recorder.titles == ["Комментарий к запросу 2026-0001"]
    assert main(["run", "--once"], notify=recorder) == 0
    assert len(recorder.calls) == 1
    log_text = (agent_env / LOG_FILE).read_text(encoding="utf-8")
    assert "Клиент просит скидку" in log_text and PASSWORD not in log_text


def test_run_without_setup_asks_for_setup(recorder: Recorder, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--once"], notify=recorder) == 2
    assert "python -m agent setup" in capsys.readouterr().err
    assert len(recorder.calls) == 1 and "не подключён" in recorder.titles[0]


def test_run_with_the_token_gone_from_the_keyring(
    crm: FakeCRM, monkeypatch: pytest.MonkeyPatch, recorder: Recorder
) -> None:
    assert _setup(crm, monkeypatch) == 0
    keyring.delete_password("zaptrade-agent-token", "ivanov")
    assert main(["run", "--once"], notify=recorder) == 2
    assert len(recorder.calls) == 1


def test_second_agent_does_not_start(crm: FakeCRM, monkeypatch: pytest.MonkeyPatch, agent_env: Path) -> None:
    from agent.loop import InstanceLock

    assert _setup(crm, monkeypatch) == 0
    lock = InstanceLock(agent_env / "agent.lock")
    assert lock.acquire()
    try:
        assert main(["run", "--once"], notify=Recorder()) == 3
    finally:
        lock.release()


def test_settings_show_and_toggle(
    crm: FakeCRM, monkeypatch: pytest.MonkeyPatch, agent_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _setup(crm, monkeypatch) == 0
    capsys.readouterr()
    assert main(["settings"]) == 0
    out = capsys.readouterr().out
    assert "[x] reminder" in out and "Интервал опроса: 30 с" in out
    assert main(["settings", "--disable", "reminder", "--disable", "delivery_status", "--poll-seconds", "60"]) == 0
    out = capsys.readouterr().out
    assert "[ ] reminder" in out and "[ ] delivery_status" in out and "[x] request_created" in out
    assert crm.settings == {
        "kinds": {
            "request_created": True,
            "request_status": True,
            "delivery_status": False,
            "request_comment": True,
            "reminder": False,
        },
        "poll_seconds": 60,
    }
    assert json.loads((agent_env / CONFIG_FILE).read_text())["poll_seconds"] == 60
    assert main(["settings", "--enable", "reminder"]) == 0
    assert crm.settings["kinds"]["reminder"] is True


def test_settings_refuses_nonsense(
    crm: FakeCRM, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _setup(crm, monkeypatch) == 0
    assert main(["settings", "--poll-seconds", "1"]) == 1
    assert main(["settings", "--enable", "reminder", "--disable", "reminder"]) == 1
    with pytest.raises(SystemExit):
        main(["settings", "--enable", "birthdays"])
    assert crm.count("PUT", "/api/v1/agent/settings") == 0


def test_disabled_kind_is_not_shown(crm: FakeCRM, monkeypatch: pytest.MonkeyPatch, recorder: Recorder) -> None:
    assert _setup(crm, monkeypatch) == 0
    assert main(["settings", "--disable", "reminder"]) == 0
    crm.add_event("reminder", title="Напоминание")
    crm.add_event("request_status", title="Статус запроса 2026-0002: в работе")
    assert main(["run", "--once"], notify=recorder) == 0
    assert recorder.titles == ["Статус запроса 2026-0002: в работе"]


def test_real_processes_with_real_plyer(crm: FakeCRM, tmp_path: Path) -> None:
    """``python -m agent`` as the user runs it; plyer is the real one, so on this headless machine the pop-up
    cannot appear, and the log must say so while the event is still recorded and the cursor moves on."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(
        ZAPTRADE_AGENT_HOME=str(tmp_path / "proc-home"),
        ZAPTRADE_TEST_KEYRING=str(tmp_path / "keyring.json"),
        PYTHON_KEYRING_BACKEND="tests.agent.keyrings_for_tests.FileTestKeyring",
        PYTHONPATH=str(ROOT),
    )
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)  # like a service started outside the desktop session
    env.pop("XDG_RUNTIME_DIR", None)

    def agent(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "agent", *args],
            input=stdin,
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=30,
        )

    setup = agent("setup", "--server", crm.url, "--username", "ivanov", "--password-stdin", stdin=PASSWORD + "\n")
    assert setup.returncode == 0, setup.stderr
    assert PASSWORD not in (tmp_path / "proc-home" / CONFIG_FILE).read_text(encoding="utf-8")
    crm.add_event("request_created", title="Новый запрос 2026-0042", message="ООО «Ромашка»: насос ЦНС 38-44")
    run = agent("run", "--once")
    assert run.returncode == 0, run.stderr
    log_text = (tmp_path / "proc-home" / LOG_FILE).read_text(encoding="utf-8")
    assert "event 1 [request_created] Новый запрос 2026-0042 — ООО «Ромашка»: насос ЦНС 38-44" in log_text
    assert "pop-up for event 1" in log_text  # FAILED or "probably not shown": never silently "fine"
    # what to install, in Russian, once (not again at the first pop-up)
    assert log_text.count("Не удаётся показать уведомление") == 1, log_text
    assert json.loads((tmp_path / "proc-home" / CURSOR_FILE).read_text())["cursor"] == encode_cursor(1)


def test_without_a_command_a_headless_computer_is_connected_in_the_terminal_then_runs(
    crm: FakeCRM, monkeypatch: pytest.MonkeyPatch, agent_env: Path, tmp_path: Path
) -> None:
    import agent.__main__ as cli

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "user" / ".config"))
    answers = iter([crm.url, "ivanov"])
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    monkeypatch.setattr("getpass.getpass", lambda prompt: PASSWORD)
    runs: list[bool] = []
    monkeypatch.setattr(cli, "cmd_run", lambda args, home, notify, notifier=None: runs.append(args.once) or 0)
    assert main([]) == 0
    assert runs == [False]  # then it runs, in the background from now on
    assert keyring.get_password("zaptrade-agent-token", "ivanov") in crm.devices
    assert (tmp_path / "user" / ".config" / "autostart" / "zaptrade-agent.desktop").exists()
    assert main([]) == 0 and runs == [False, False]  # next start: straight to running, no question
    assert len(crm.devices) == 1


def test_help_describes_the_agent_in_russian(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "Агент ZapTrade CRM" in out and "window" in out and "setup" in out


def test_an_earlier_agents_stored_password_becomes_a_device_token_and_is_deleted(
    crm: FakeCRM, agent_env: Path, recorder: Recorder
) -> None:
    agent_env.mkdir(parents=True, exist_ok=True)
    # what `setup` of the password-keeping Agent left behind
    (agent_env / CONFIG_FILE).write_text(json.dumps({"server": crm.url, "username": "ivanov", "poll_seconds": 30}))
    keyring.set_password("zaptrade-agent", "ivanov", PASSWORD)
    crm.add_event("reminder", title="Напоминание")
    assert main(["run", "--once"], notify=recorder) == 0
    assert keyring.get_password("zaptrade-agent", "ivanov") is None
    assert keyring.get_password("zaptrade-agent-token", "ivanov") in crm.devices
    assert crm.count("POST", "/api/v1/security/login") == 0
    assert main(["run", "--once"], notify=recorder) == 0
    assert len(crm.devices) == 1


class _StopAfter(Recorder):
    """A recorder that ends the session (SIGTERM, as at logout) once ``title`` has popped up."""

    def __init__(self, title: str) -> None:
        super().__init__()
        self.title = title

    def __call__(self, **kwargs: object) -> None:
        super().__call__(**kwargs)
        if kwargs["title"] == self.title:
            signal.raise_signal(signal.SIGTERM)


@pytest.fixture
def sigterm_restored():
    """``run`` installs its own SIGTERM handler (stop at logout): give pytest its own back afterwards."""
    previous = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, previous)


def test_a_disconnected_agent_reopens_its_window_prefilled_and_runs_on_after_a_new_login(
    crm: FakeCRM, monkeypatch: pytest.MonkeyPatch, agent_env: Path, tmp_path: Path, sigterm_restored
) -> None:
    import agent.window

    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "user" / ".config"))
    assert _setup(crm, monkeypatch) == 0
    crm.revoke_devices()  # «Отключить» on the «Агент» page
    opened: list[dict[str, object]] = []

    class LoggingInWindow:
        """The setup window as the manager uses it: sees what is prefilled, types the password, «Подключить»."""

        def __init__(self, form: agent.window.SetupForm, notifier: object, connector=None) -> None:
            self.form = form
            opened.append({"server": form.server, "username": form.username, "autostart": form.autostart})

        def run(self) -> bool:
            self.form.password = PASSWORD
            connected = self.form.submit()
            crm.add_event("request_created", title="Новый запрос 2026-0077")  # meanwhile, in the CRM
            return connected

    monkeypatch.setattr(agent.window, "display_available", lambda: True)
    monkeypatch.setattr(agent.window, "SetupWindow", LoggingInWindow)
    recorder = _StopAfter("Новый запрос 2026-0077")
    assert main(["run"], notify=recorder) == 0  # ended by the session's SIGTERM, not by the revocation
    assert recorder.titles == ["Агент отключён — войдите снова", "Новый запрос 2026-0077"]  # one pop-up each
    assert opened == [{"server": crm.url, "username": "ivanov", "autostart": True}]
    new_token = keyring.get_password("zaptrade-agent-token", "ivanov")
    assert new_token in crm.devices and len(crm.devices) == 1  # the revoked key is gone, the new one works


def test_a_double_clicked_agent_without_tkinter_says_so_in_a_popup_instead_of_waiting_for_a_terminal(
    monkeypatch: pytest.MonkeyPatch, recorder: Recorder
) -> None:
    import agent.window

    monkeypatch.setattr(agent.window, "display_available", lambda: False)
    monkeypatch.setattr(sys, "stdin", None)  # pythonw.exe: no console to ask in
    assert main([], notify=recorder) == 2
    assert recorder.titles == ["ZapTrade CRM: агент не подключён"]
    assert "нет tkinter" in recorder.messages[0] and "tcl/tk" in recorder.messages[0]
