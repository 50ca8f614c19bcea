"""Start-at-login entries for Linux, Windows and macOS, computed on this (Linux) machine."""

from __future__ import annotations

import plistlib
import re
import sys
from pathlib import Path, PurePosixPath, PureWindowsPath

import pytest

from agent import autostart
from agent.__main__ import main


def test_linux_desktop_entry(tmp_path: Path) -> None:
    entry = autostart.autostart_entry("linux", "/home/ivan", {}, "/opt/crm/.venv/bin/python", "/opt/crm")
    assert entry.path == PurePosixPath("/home/ivan/.config/autostart/zaptrade-agent.desktop")
    lines = entry.content.splitlines()
    assert lines[0] == "[Desktop Entry]"
    assert "Type=Application" in lines
    assert "Exec=/opt/crm/.venv/bin/python -m agent run" in lines
    assert "Path=/opt/crm" in lines
    assert "X-GNOME-Autostart-enabled=true" in lines
    assert "Name[ru]=Агент ZapTrade CRM" in lines


def test_linux_entry_respects_xdg_config_home_and_quotes_odd_paths() -> None:
    python = "/home/ivan/my venv/100%/bin/python"
    entry = autostart.autostart_entry("linux", "/home/ivan", {"XDG_CONFIG_HOME": "/cfg"}, python, "/w")
    assert entry.path == PurePosixPath("/cfg/autostart/zaptrade-agent.desktop")
    exec_line = next(line for line in entry.content.splitlines() if line.startswith("Exec="))
    assert exec_line == 'Exec="/home/ivan/my venv/100%%/bin/python" -m agent run'
    # a relative XDG_CONFIG_HOME is invalid by the spec and ignored
    relative = autostart.autostart_entry("linux", "/home/ivan", {"XDG_CONFIG_HOME": "cfg"}, python, "/w")
    assert relative.path == PurePosixPath("/home/ivan/.config/autostart/zaptrade-agent.desktop")


def test_linux_exec_value_unescapes_to_the_interpreter_path() -> None:
    python = '/odd "dir"/$HOME/back\\slash/python'
    entry = autostart.autostart_entry("linux", "/home/ivan", {}, python, "/w")
    exec_value = next(line for line in entry.content.splitlines() if line.startswith("Exec="))[5:]
    assert _parse_exec(_unescape_string(exec_value)) == [python, "-m", "agent", "run"]


def _unescape_string(value: str) -> str:
    """Desktop Entry "string" value: \\s \\n \\t \\r \\\\ escapes."""
    out, chars = [], iter(value)
    for char in chars:
        if char == "\\":
            nxt = next(chars)
            out.append({"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}[nxt])
        else:
            out.append(char)
    return "".join(out)


def _parse_exec(value: str) -> list[str]:
    """Exec= arguments by the spec: split on spaces; in double quotes a backslash escapes " ` $ and backslash."""
    args: list[str] = []
    current: list[str] = []
    quoted = started = False
    chars = iter(value)
    for char in chars:
        if quoted:
            if char == "\\":
                current.append(next(chars))
            elif char == '"':
                quoted = False
            else:
                current.append(char)
        elif char == '"':
            quoted = started = True
        elif char == " ":
            if started or current:
                args.append("".join(current).replace("%%", "%"))
            current, started = [], False
        else:
            current.append(char)
    if started or current:
        args.append("".join(current).replace("%%", "%"))
    return args


STARTUP = r"C:\Users\Иван\AppData\Roaming\Microsoft\Windows\Start Menu\Programs\Startup"


def _vbs_value(expression: str) -> str:
    """What a VBScript string expression of ``"…" & ChrW(n) & "…"`` pieces evaluates to."""
    out = []
    for literal, code in re.findall(r'"((?:[^"]|"")*)"|ChrW\((\d+)\)', expression):
        out.append(chr(int(code)) if code else literal.replace('""', '"'))
    text = "".join(out)
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le")  # ChrW pairs back to one character


def _vbs_line(lines: list[str], prefix: str) -> str:
    return next(line for line in lines if line.startswith(prefix))[len(prefix) :]


def test_windows_startup_vbs_starts_pythonw_hidden_with_no_console() -> None:
    environ = {"APPDATA": r"C:\Users\Иван\AppData\Roaming"}
    python = r"C:\Users\Иван\AppData\Local\Programs\Python\Python311\pythonw.exe"
    entry = autostart.autostart_entry("windows", r"C:\Users\Иван", environ, python, r"C:\ZapTrade\agent-100%")
    # wscript.exe runs a .vbs from the Startup folder without any console window (a .cmd flashes one)
    assert entry.path == PureWindowsPath(STARTUP) / "ZapTrade Agent.vbs"
    assert entry.content.endswith("\r\n") and "\n" not in entry.content.replace("\r\n", "")
    assert entry.content.isascii()  # WSH reads a script in the ANSI code page: Cyrillic goes in as ChrW()
    lines = entry.content.split("\r\n")
    assert 'Set shell = CreateObject("WScript.Shell")' in lines
    assert _vbs_value(_vbs_line(lines, "shell.CurrentDirectory = ")) == r"C:\ZapTrade\agent-100%"
    run = _vbs_line(lines, "shell.Run ")
    assert run.endswith(", 0, False")  # 0: no window; False: wscript does not wait for the Agent
    assert _vbs_value(run.removesuffix(", 0, False")) == f'"{python}" -m agent run'
    assert "' To turn it off: delete this file, or in the folder below run: python -m agent autostart remove" in lines
    assert entry.legacy == (PureWindowsPath(STARTUP) / "ZapTrade Agent.cmd",)  # the earlier Agent's .cmd


def test_windows_without_appdata_uses_the_roaming_folder() -> None:
    entry = autostart.autostart_entry("windows", r"C:\Users\ivan", {}, r"C:\Py\python.exe", r"C:\crm")
    assert str(entry.path).startswith(r"C:\Users\ivan\AppData\Roaming\Microsoft\Windows\Start Menu\Programs\Startup")


def test_macos_launch_agent() -> None:
    entry = autostart.autostart_entry("macos", "/Users/ivan", {}, "/usr/local/bin/python3", "/Users/ivan/crm")
    assert entry.path == PurePosixPath("/Users/ivan/Library/LaunchAgents/ru.zaptrade.agent.plist")
    plist = plistlib.loads(entry.content.encode("utf-8"))
    assert plist["Label"] == "ru.zaptrade.agent"
    assert plist["ProgramArguments"] == ["/usr/local/bin/python3", "-m", "agent", "run"]
    assert plist["RunAtLoad"] is True
    assert plist["WorkingDirectory"] == "/Users/ivan/crm"
    assert "KeepAlive" not in plist  # exit 2 ("password changed") must not be restarted into a loop


def test_unknown_platform_is_refused() -> None:
    with pytest.raises(ValueError):
        autostart.autostart_entry("amiga", "/", {}, "python", "/")


@pytest.mark.parametrize("platform", ["linux", "macos"])
def test_install_status_remove(tmp_path: Path, platform: str) -> None:
    entry = autostart.autostart_entry(platform, tmp_path, {}, sys.executable, autostart.package_root())
    assert autostart.status(entry) == autostart.ABSENT
    path = autostart.install(entry)
    assert path.read_text(encoding="utf-8") == entry.content
    assert autostart.status(entry) == autostart.INSTALLED
    moved = autostart.autostart_entry(platform, tmp_path, {}, "/elsewhere/python", autostart.package_root())
    assert autostart.status(moved) == autostart.DIFFERENT
    assert autostart.remove(entry) is True
    assert autostart.remove(entry) is False
    assert autostart.status(entry) == autostart.ABSENT


def test_cli_autostart_uses_this_interpreter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert main(["autostart", "status"]) == 0
    assert "выключен" in capsys.readouterr().out
    assert main(["autostart", "install"]) == 0
    desktop = tmp_path / "cfg" / "autostart" / "zaptrade-agent.desktop"
    assert f"Exec={sys.executable} -m agent run" in desktop.read_text(encoding="utf-8")
    assert f"Path={autostart.package_root()}" in desktop.read_text(encoding="utf-8")
    assert main(["autostart", "status"]) == 0
    assert "включён" in capsys.readouterr().out
    assert main(["autostart", "remove"]) == 0
    assert not desktop.exists()


def test_windows_startup_vbs_runs_the_downloaded_file_with_pythonw() -> None:
    home = r"C:\Users\Иван\AppData\Roaming\ZapTrade Agent"
    python = r"C:\Users\Иван\AppData\Local\Programs\Python\Python312\pythonw.exe"
    entry = autostart.autostart_entry(
        "windows",
        r"C:\Users\Иван",
        {"APPDATA": r"C:\Users\Иван\AppData\Roaming"},
        python,
        home,
        zipapp=home + r"\zaptrade-agent.pyz",
    )
    lines = entry.content.split("\r\n")
    assert _vbs_value(_vbs_line(lines, "shell.CurrentDirectory = ")) == home
    run = _vbs_line(lines, "shell.Run ").removesuffix(", 0, False")
    assert _vbs_value(run) == f'"{python}" "{home}\\zaptrade-agent.pyz" run'
    # the manager has no "-m agent": the comment names his own file
    off = "' To turn it off: delete this file, or in the folder below run: python zaptrade-agent.pyz autostart remove"
    assert off in lines
    assert str(entry.path).endswith(r"Start Menu\Programs\Startup\ZapTrade Agent.vbs")


def test_vbs_strings_survive_quotes_and_characters_outside_the_code_page() -> None:
    value = 'C:\\Users\\Zoë "Ё" 😀\\python.exe'
    expression = autostart._vbs_string(value)
    assert expression.isascii() and _vbs_value(expression) == value


def test_installing_the_vbs_removes_the_earlier_cmd_and_remove_deletes_both(tmp_path: Path) -> None:
    old_cmd = tmp_path / "ZapTrade Agent.cmd"
    old_cmd.write_text("@echo off\r\n", encoding="utf-8")
    entry = autostart.AutostartEntry("windows", tmp_path / "ZapTrade Agent.vbs", "' vbs\r\n", (old_cmd,))
    assert autostart.status(entry) == autostart.DIFFERENT  # `autostart status` says: update it
    autostart.install(entry)
    assert not old_cmd.exists()  # the Agent must not start twice at login
    assert autostart.status(entry) == autostart.INSTALLED
    old_cmd.write_text("@echo off\r\n", encoding="utf-8")
    assert autostart.remove(entry) is True
    assert not old_cmd.exists() and not (tmp_path / "ZapTrade Agent.vbs").exists()
    assert autostart.remove(entry) is False


def test_linux_desktop_entry_runs_the_downloaded_file() -> None:
    home = "/home/ivan/.config/zaptrade-agent"
    entry = autostart.autostart_entry(
        "linux", "/home/ivan", {}, "/usr/bin/python3", home, zipapp=f"{home}/zaptrade-agent.pyz"
    )
    assert entry.path == PurePosixPath("/home/ivan/.config/autostart/zaptrade-agent.desktop")
    assert f"Exec=/usr/bin/python3 {home}/zaptrade-agent.pyz run" in entry.content.splitlines()
    assert f"Path={home}" in entry.content.splitlines()


def test_the_downloaded_file_copies_itself_into_the_agent_home(tmp_path: Path) -> None:
    downloads = tmp_path / "Загрузки"
    downloads.mkdir()
    source = downloads / "zaptrade-agent.pyz"
    source.write_bytes(b"#!/usr/bin/env python3\nPK...")
    home = tmp_path / "home"
    home.mkdir()
    copy = autostart.install_zipapp(home, source)
    assert copy == home / "zaptrade-agent.pyz" and copy.read_bytes() == source.read_bytes()
    source.unlink()  # the manager empties his Downloads folder: autostart still has its copy
    assert copy.exists()
    assert autostart.install_zipapp(home, None) is None  # from a source folder nothing is copied
