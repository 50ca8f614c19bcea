"""Start-at-login entries for Linux, Windows and macOS, computed on this (Linux) machine."""

from __future__ import annotations

import contextlib
import dataclasses
import plistlib
import shutil
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath

import pytest

import agent
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
RUN_VALUE = r"HKEY_CURRENT_USER\Software\Microsoft\Windows\CurrentVersion\Run\ZapTrade Agent"
PYTHONW = r"C:\Users\Иван\AppData\Local\Programs\Python\Python312\pythonw.exe"


def _windows_argv(command: str) -> list[str]:
    """Split a command line as Windows does (CommandLineToArgvW, the C runtime's rules): the program name runs to
    the next quote or blank, unescaped; then 2n backslashes + quote give n backslashes and toggle quoting,
    2n+1 give n and a literal quote, other backslashes are literal, and "" inside quotes is a literal quote."""
    if command.startswith('"'):
        program, _, rest = command[1:].partition('"')
    else:
        program, _, rest = command.partition(" ")
    args: list[str] = [program]
    current: list[str] = []
    quoted = started = False
    i = 0
    while i < len(rest):
        char = rest[i]
        if char == "\\":
            run = len(rest[i:]) - len(rest[i:].lstrip("\\"))
            if rest[i + run : i + run + 1] == '"':
                current.append("\\" * (run // 2))
                if run % 2:
                    current.append('"')
                    i += run + 1
                else:
                    i += run  # the quote is read next, as a delimiter
            else:
                current.append("\\" * run)
                i += run
            started = True
            continue
        if char == '"':
            if quoted and rest[i + 1 : i + 2] == '"':
                current.append('"')
                i += 2
                continue
            quoted, started = not quoted, True
        elif char in " \t" and not quoted:
            if started:
                args.append("".join(current))
            current, started = [], False
        else:
            current.append(char)
            started = True
        i += 1
    if started:
        args.append("".join(current))
    return args


ODD_ARGUMENTS = [
    r"C:\Users\Иван Петров\Загрузки\zaptrade-agent.pyz",
    'say "hi"',
    'back\\"slash',
    "C:\\folder with trailing\\",
    "\\\\server\\share\\",
    "",
    "100% %APPDATA%",
    "Zoë 😀 O'Brien",
    "tab\there",
]


@pytest.mark.parametrize("arg", ODD_ARGUMENTS)
def test_the_windows_splitter_agrees_with_the_standard_library(arg: str) -> None:
    # list2cmdline is CPython's own quoting for CreateProcess: the splitter above must read it back
    assert _windows_argv(subprocess.list2cmdline([PYTHONW, arg])) == [PYTHONW, arg]


@pytest.mark.parametrize("arg", ODD_ARGUMENTS)
def test_windows_command_line_reads_back_as_the_same_arguments(arg: str) -> None:
    program = r"C:\Program Files\Python 3.12\pythonw.exe"
    command = autostart.windows_command_line([program, arg, "run"])
    assert command.startswith(f'"{program}" ')
    assert _windows_argv(command) == [program, arg, "run"]


def test_a_program_path_with_a_quote_is_refused() -> None:
    with pytest.raises(ValueError):
        autostart.windows_command_line(['C:\\odd"\\pythonw.exe', "run"])


def test_windows_run_value_starts_the_downloaded_file_with_pythonw() -> None:
    home = r"C:\Users\Иван\AppData\Roaming\ZapTrade Agent"
    entry = autostart.autostart_entry(
        "windows",
        r"C:\Users\Иван",
        {"APPDATA": r"C:\Users\Иван\AppData\Roaming"},
        PYTHONW,
        home,
        zipapp=home + r"\zaptrade-agent.pyz",
    )
    # HKCU Run: no administrator rights, no VBScript, listed (and switched off) in Task Manager's «Автозагрузка»
    assert str(entry.path) == RUN_VALUE
    assert entry.content == f'"{PYTHONW}" "{home}\\zaptrade-agent.pyz" run'
    assert _windows_argv(entry.content) == [PYTHONW, home + r"\zaptrade-agent.pyz", "run"]
    assert len(entry.content) < 260  # Microsoft documents 260 characters at most for a Run command line
    # the earlier Agents' Startup-folder scripts, deleted on install so that the Agent cannot start twice
    assert entry.legacy == (
        PureWindowsPath(STARTUP) / "ZapTrade Agent.vbs",
        PureWindowsPath(STARTUP) / "ZapTrade Agent.cmd",
    )


def test_windows_run_value_from_a_source_folder_does_not_depend_on_the_working_directory() -> None:
    root = 'C:\\Users\\Иван\\Мои проекты\\O\'Brien "crm"\\'
    entry = autostart.autostart_entry("windows", r"C:\Users\Иван", {}, PYTHONW, root)
    python, flag, program, command = _windows_argv(entry.content)
    assert (python, flag, command) == (PYTHONW, "-c", "run")
    # the Run value has no working directory: the program puts the folder on sys.path itself
    assert program == (
        f"import sys; sys.path.insert(0, {root!r}); import runpy; "
        "runpy.run_module('agent', run_name='__main__', alter_sys=True)"
    )
    typical = autostart.autostart_entry("windows", r"C:\Users\Иван", {}, PYTHONW, r"C:\Users\Иван\zaptrade-crm")
    assert len(typical.content) < 260


def test_the_source_folder_program_runs_the_agent_from_a_folder_with_spaces_quotes_and_cyrillic(
    tmp_path: Path,
) -> None:
    root = tmp_path / "Мои проекты" / 'O\'Brien "crm"'
    shutil.copytree(Path(autostart.package_root()) / "agent", root / "agent")
    elsewhere = tmp_path / "login starts here"
    elsewhere.mkdir()
    command = autostart.windows_command_line(autostart.windows_run_args(sys.executable, str(root), None))
    argv = _windows_argv(command)
    assert argv[-1] == "run"
    done = subprocess.run(
        [*argv[:-1], "--version"], cwd=elsewhere, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert agent.__version__ in done.stdout


def test_windows_without_appdata_uses_the_roaming_folder() -> None:
    entry = autostart.autostart_entry("windows", r"C:\Users\ivan", {}, r"C:\Py\python.exe", r"C:\crm")
    roaming_startup = r"C:\Users\ivan\AppData\Roaming\Microsoft\Windows\Start Menu\Programs\Startup"
    assert all(str(old).startswith(roaming_startup) for old in entry.legacy)


class FakeRunKey:
    """The Run key's one value, in memory."""

    def __init__(self, data: str | None = None) -> None:
        self.data = data

    def read(self) -> str | None:
        return self.data

    def write(self, command: str) -> None:
        self.data = command

    def delete(self) -> bool:
        existed, self.data = self.data is not None, None
        return existed


def test_windows_install_status_remove_with_the_run_key(tmp_path: Path) -> None:
    computed = autostart.autostart_entry("windows", r"C:\Users\Иван", {}, PYTHONW, r"C:\crm")
    vbs, cmd = tmp_path / "ZapTrade Agent.vbs", tmp_path / "ZapTrade Agent.cmd"
    entry = dataclasses.replace(computed, legacy=(vbs, cmd))
    run_key = FakeRunKey()
    assert autostart.status(entry, run_key) == autostart.ABSENT
    vbs.write_text("' earlier Agent\r\n", encoding="ascii")
    cmd.write_text("@echo off\r\n", encoding="ascii")
    assert autostart.status(entry, run_key) == autostart.DIFFERENT  # `autostart status` says: update it

    assert autostart.install(entry, run_key).name == "ZapTrade Agent"
    assert run_key.data == entry.content
    assert not vbs.exists() and not cmd.exists()  # the Agent must not start twice at login
    assert autostart.status(entry, run_key) == autostart.INSTALLED
    moved = autostart.autostart_entry("windows", r"C:\Users\Иван", {}, r"D:\Python\pythonw.exe", r"C:\crm")
    assert autostart.status(moved, run_key) == autostart.DIFFERENT

    vbs.write_text("' earlier Agent\r\n", encoding="ascii")
    assert autostart.remove(entry, run_key) is True
    assert run_key.data is None and not vbs.exists()
    assert autostart.remove(entry, run_key) is False
    assert autostart.status(entry, run_key) == autostart.ABSENT


class FakeWinreg(types.ModuleType):
    """The few winreg calls WindowsRunKey makes, over a dictionary {key path: {value name: (data, type)}}."""

    HKEY_CURRENT_USER, KEY_SET_VALUE, REG_SZ = "HKCU", 2, 1

    def __init__(self) -> None:
        super().__init__("winreg")
        self.keys: dict[str, dict[str, tuple[object, int]]] = {}

    @contextlib.contextmanager
    def _open(self, root: str, path: str, create: bool = False) -> Iterator[dict[str, tuple[object, int]]]:
        name = f"{root}\\{path}"
        if create:
            self.keys.setdefault(name, {})
        if name not in self.keys:
            raise FileNotFoundError(name)
        yield self.keys[name]

    def OpenKey(self, root: str, path: str, reserved: int = 0, access: int = 1) -> object:
        return self._open(root, path)

    def CreateKeyEx(self, root: str, path: str, reserved: int, access: int) -> object:
        return self._open(root, path, create=True)

    def QueryValueEx(self, key: dict[str, tuple[object, int]], name: str) -> tuple[object, int]:
        if name not in key:
            raise FileNotFoundError(name)
        return key[name]

    def SetValueEx(self, key: dict[str, tuple[object, int]], name: str, reserved: int, kind: int, data: str) -> None:
        key[name] = (data, kind)

    def DeleteValue(self, key: dict[str, tuple[object, int]], name: str) -> None:
        if name not in key:
            raise FileNotFoundError(name)
        del key[name]


def test_the_real_run_key_writes_a_plain_string_value_under_hkcu(monkeypatch: pytest.MonkeyPatch) -> None:
    winreg = FakeWinreg()
    monkeypatch.setitem(sys.modules, "winreg", winreg)
    run_key = autostart.WindowsRunKey()
    assert run_key.read() is None  # not even the key yet
    assert run_key.delete() is False
    run_key.write('"C:\\Py\\pythonw.exe" "C:\\Агент\\zaptrade-agent.pyz" run')
    run = winreg.keys[r"HKCU\Software\Microsoft\Windows\CurrentVersion\Run"]
    # REG_SZ: %NAME% in a folder name is not expanded
    assert run == {"ZapTrade Agent": ('"C:\\Py\\pythonw.exe" "C:\\Агент\\zaptrade-agent.pyz" run', winreg.REG_SZ)}
    assert run_key.read() == '"C:\\Py\\pythonw.exe" "C:\\Агент\\zaptrade-agent.pyz" run'
    assert run_key.delete() is True
    assert run_key.read() is None and run == {}


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
