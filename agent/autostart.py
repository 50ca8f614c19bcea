r"""Start the Agent at login: XDG autostart on Linux, the HKCU Run key on Windows, a LaunchAgent on macOS.

``autostart_entry`` is a pure function (platform, home, environment, interpreter → where and what), so all three
platforms are tested on any machine; ``install``/``remove``/``status`` only write, delete or compare.
The entry runs ``<this interpreter> -m agent run`` from the folder that holds the ``agent`` package, because a
process started at login begins in the home folder, where ``-m agent`` would not be found. The downloaded
Agent (one zipapp file, agent/build.py) first copies itself into the agent home, so the entry runs
``<python> <home>/zaptrade-agent.pyz run`` and the manager may delete the file from his Downloads folder.

Windows: the value «ZapTrade Agent» under ``HKEY_CURRENT_USER\Software\Microsoft\Windows\CurrentVersion\Run``
holding a ``pythonw.exe`` command line. Explorer runs it at login with no console (pythonw) and no VBScript
(Microsoft is removing VBScript from Windows, which would silently stop the earlier Startup-folder ``.vbs``);
it needs no administrator rights, and Task Manager's «Автозагрузка» lists it and lets the user disable it.
A Run value has no working directory, so a source folder is put on ``sys.path`` by ``-c`` rather than relying
on the current folder. Installing deletes the earlier Agents' ``ZapTrade Agent.vbs``/``.cmd`` from the Startup
folder, so the Agent cannot start twice. The value is ``REG_SZ`` (``%NAME%`` is not expanded); Microsoft
documents at most 260 characters for a Run command line, which the usual paths stay well below.
"""

from __future__ import annotations

import contextlib
import os
import plistlib
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath
from typing import Protocol

from agent.config import LINUX, MACOS, WINDOWS, current_platform

LAUNCH_AGENT_LABEL = "ru.zaptrade.agent"
DESKTOP_FILE = "zaptrade-agent.desktop"
RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"  # under HKEY_CURRENT_USER: per user, no admin
RUN_VALUE = "ZapTrade Agent"
# what earlier Agents wrote to the Startup folder (the .cmd before 1.0, then the .vbs): removed on install
WINDOWS_LEGACY_FILES = ("ZapTrade Agent.vbs", "ZapTrade Agent.cmd")
INSTALLED, DIFFERENT, ABSENT = "installed", "different", "absent"
ZIPAPP_NAME = "zaptrade-agent.pyz"


@dataclass(frozen=True)
class AutostartEntry:
    platform: str
    path: PurePath  # the file; on Windows the registry value, e.g. HKEY_CURRENT_USER\...\Run\ZapTrade Agent
    content: str  # the file's text; on Windows the value's data (the command line)
    legacy: tuple[PurePath, ...] = ()  # earlier entries that would start a second Agent: deleted on install


def package_root() -> str:
    """The folder that contains the ``agent`` package: the working directory ``-m agent`` needs."""
    return str(Path(__file__).resolve().parent.parent)


def running_zipapp() -> Path | None:
    """The zipapp file this Agent runs from (the download), None when it runs from a source folder."""
    import agent

    archive = getattr(getattr(agent, "__spec__", None) and agent.__spec__.loader, "archive", None)
    return Path(archive) if archive else None


def install_zipapp(home: Path, source: Path | None = None) -> Path | None:
    """Copy the running zipapp into the agent home (atomically); the autostart entry points at the copy."""
    source = source or running_zipapp()
    if source is None:
        return None
    target = home / ZIPAPP_NAME
    if source.resolve() != target.resolve():
        tmp = target.with_name(f".{ZIPAPP_NAME}.tmp")
        shutil.copyfile(source, tmp)
        tmp.replace(target)
    return target


def agent_args(python: str, zipapp: str | None) -> list[str]:
    return [python, zipapp, "run"] if zipapp else [python, "-m", "agent", "run"]


def windowless_python(python: str) -> str:
    """On Windows prefer pythonw.exe beside python.exe: no console window stays open for the Agent."""
    path = Path(python)
    if path.name.lower() == "python.exe":
        candidate = path.with_name("pythonw.exe")
        if candidate.exists():
            return str(candidate)
    return python


# --- Linux: XDG desktop entry --------------------------------------------------------------------------------------

_RESERVED = re.compile(r"[\s\"'\\><~|&;$*?#()`]")


def _desktop_string(value: str) -> str:
    """Escape a value of type string in a desktop entry (backslash, newline, tab, carriage return)."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")


def _desktop_exec_arg(arg: str) -> str:
    """Quote one argument of Exec= by the Desktop Entry spec; the value is then string-escaped as a whole."""
    arg = arg.replace("%", "%%")
    if _RESERVED.search(arg) or not arg:
        arg = '"' + re.sub(r'(["`$\\])', r"\\\1", arg) + '"'
    return arg


def _linux_entry(
    home: PurePosixPath, environ: Mapping[str, str], python: str, workdir: str, zipapp: str | None
) -> AutostartEntry:
    xdg = environ.get("XDG_CONFIG_HOME")
    base = PurePosixPath(xdg) if xdg and PurePosixPath(xdg).is_absolute() else home / ".config"
    command = " ".join(_desktop_exec_arg(arg) for arg in agent_args(python, zipapp))
    content = "\n".join(
        [
            "[Desktop Entry]",
            "Type=Application",
            "Name=ZapTrade CRM Agent",
            "Name[ru]=Агент ZapTrade CRM",
            "Comment[ru]=Всплывающие уведомления ZapTrade CRM",
            f"Exec={_desktop_string(command)}",
            f"Path={_desktop_string(workdir)}",
            "Terminal=false",
            "NoDisplay=true",
            "X-GNOME-Autostart-enabled=true",
            "",
        ]
    )
    return AutostartEntry(LINUX, base / "autostart" / DESKTOP_FILE, content)


# --- Windows: a value under the HKCU Run key ---------------------------------------------------------------------

_BARE_ARG = re.compile(r"[A-Za-z0-9_.=-]+")


def _windows_arg(arg: str) -> str:
    """One argument as the C runtime (and CommandLineToArgvW) splits it back: quoted unless plain; backslashes
    are doubled only where a quote follows (the closing one too), and a quote inside becomes backslash-quote."""
    if _BARE_ARG.fullmatch(arg):
        return arg
    quoted = re.sub(r'(\\*)"', r'\1\1\\"', arg)
    return '"' + re.sub(r"(\\+)$", r"\1\1", quoted) + '"'


def windows_command_line(args: Sequence[str]) -> str:
    """The command line for ``args``: the program always in plain quotes (Windows reads it up to the next
    quote, with no escapes, and a file name cannot contain one), the rest by ``_windows_arg``."""
    program, *rest = args
    if '"' in program:
        raise ValueError(f"a Windows program path cannot contain a quote: {program!r}")
    return " ".join([f'"{program}"', *(_windows_arg(arg) for arg in rest)])


def windows_run_args(python: str, root: str, zipapp: str | None) -> list[str]:
    """What the Run value starts. A Run value has no working directory, so from a source folder ``-c`` puts
    ``root`` (the folder holding the ``agent`` package) first on ``sys.path`` and runs it as ``-m agent`` would."""
    if zipapp:
        return agent_args(python, zipapp)
    program = (
        f"import sys; sys.path.insert(0, {root!r}); import runpy; "
        "runpy.run_module('agent', run_name='__main__', alter_sys=True)"
    )
    return [python, "-c", program, "run"]


def _windows_entry(
    home: PureWindowsPath, environ: Mapping[str, str], python: str, workdir: str, zipapp: str | None
) -> AutostartEntry:
    appdata = environ.get("APPDATA")
    base = PureWindowsPath(appdata) if appdata else home / "AppData" / "Roaming"
    startup = base / "Microsoft" / "Windows" / "Start Menu" / "Programs" / "Startup"
    command = windows_command_line(windows_run_args(python, workdir, zipapp))
    value = PureWindowsPath("HKEY_CURRENT_USER") / RUN_KEY / RUN_VALUE
    return AutostartEntry(WINDOWS, value, command, tuple(startup / name for name in WINDOWS_LEGACY_FILES))


class RunKey(Protocol):
    """One value under the Run key: the registry on Windows, a dictionary in the tests."""

    def read(self) -> str | None: ...

    def write(self, command: str) -> None: ...

    def delete(self) -> bool: ...


class WindowsRunKey:
    """``HKEY_CURRENT_USER\\…\\Run\\<name>`` through ``winreg``, imported only here: it exists only on Windows."""

    def __init__(self, name: str = RUN_VALUE) -> None:
        self.name = name

    def read(self) -> str | None:
        import winreg

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
                data, _kind = winreg.QueryValueEx(key, self.name)
        except FileNotFoundError:
            return None
        return data if isinstance(data, str) else repr(data)

    def write(self, command: str) -> None:
        import winreg

        # REG_SZ, not REG_EXPAND_SZ: a %NAME% in a folder name stays as it is
        with winreg.CreateKeyEx(winreg.HKEY_CURRENT_USER, RUN_KEY, 0, winreg.KEY_SET_VALUE) as key:
            winreg.SetValueEx(key, self.name, 0, winreg.REG_SZ, command)

    def delete(self) -> bool:
        import winreg

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY, 0, winreg.KEY_SET_VALUE) as key:
                winreg.DeleteValue(key, self.name)
        except FileNotFoundError:
            return False
        return True


# --- macOS: a LaunchAgent --------------------------------------------------------------------------------------------


def _macos_entry(home: PurePosixPath, python: str, workdir: str, zipapp: str | None) -> AutostartEntry:
    plist = {
        "Label": LAUNCH_AGENT_LABEL,
        "ProgramArguments": agent_args(python, zipapp),
        "WorkingDirectory": workdir,
        "RunAtLoad": True,
        # no KeepAlive: after "password changed" (exit 2) launchd must not restart it into the same pop-up
        "ProcessType": "Interactive",
        "LimitLoadToSessionType": "Aqua",  # pop-ups need the user's graphical session
    }
    content = plistlib.dumps(plist, sort_keys=False).decode("utf-8")
    return AutostartEntry(MACOS, home / "Library" / "LaunchAgents" / f"{LAUNCH_AGENT_LABEL}.plist", content)


def autostart_entry(
    platform: str,
    home: PurePath | str,
    environ: Mapping[str, str],
    python: str,
    workdir: str,
    zipapp: str | None = None,
) -> AutostartEntry:
    """Path and content of the start-at-login entry for ``platform`` (linux, windows or macos).

    ``zipapp``: the downloaded Agent file to run (then ``workdir`` is its folder) instead of ``-m agent``.
    """
    if platform == WINDOWS:
        return _windows_entry(PureWindowsPath(home), environ, python, workdir, zipapp)
    if platform == MACOS:
        return _macos_entry(PurePosixPath(home), python, workdir, zipapp)
    if platform == LINUX:
        return _linux_entry(PurePosixPath(home), environ, python, workdir, zipapp)
    raise ValueError(f"unknown platform {platform!r}")


def current_entry(home: Path | None = None) -> AutostartEntry:
    """The entry for this computer, this user and the interpreter running now.

    Run from the downloaded file and given the agent ``home``, the file is first copied there.
    """
    platform = current_platform()
    python = windowless_python(sys.executable) if platform == WINDOWS else sys.executable
    zipapp = install_zipapp(home) if home is not None else running_zipapp()
    if zipapp is not None:
        return autostart_entry(platform, Path.home(), os.environ, python, str(zipapp.parent), str(zipapp))
    return autostart_entry(platform, Path.home(), os.environ, python, package_root())


# --- the thin installer ------------------------------------------------------------------------------------------


def install(entry: AutostartEntry, run_key: RunKey | None = None) -> Path:
    """Write the entry and delete the earlier ones; returns where it is (on Windows the registry value's name)."""
    if entry.platform == WINDOWS:
        (run_key or WindowsRunKey()).write(entry.content)
    else:
        path = Path(entry.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(entry.content.encode("utf-8"))
    for old in entry.legacy:
        _delete(Path(old))
    return Path(entry.path)


def _delete(path: Path) -> bool:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
        return True
    return False


def remove(entry: AutostartEntry, run_key: RunKey | None = None) -> bool:
    """Delete the entry (and an earlier Agent's); False when there was none."""
    deleted = [_delete(Path(path)) for path in entry.legacy]
    if entry.platform == WINDOWS:
        deleted.append((run_key or WindowsRunKey()).delete())
    else:
        deleted.append(_delete(Path(entry.path)))
    return any(deleted)


def status(entry: AutostartEntry, run_key: RunKey | None = None) -> str:
    """installed (the same file or value), different (another interpreter or folder, e.g. after a move, or only an
    earlier Agent's entry) or absent."""
    if entry.platform == WINDOWS:
        data = (run_key or WindowsRunKey()).read()
        current = None if data is None else data.encode("utf-8")
    else:
        try:
            current = Path(entry.path).read_bytes()
        except FileNotFoundError:
            current = None
    if current is None:
        return DIFFERENT if any(Path(old).exists() for old in entry.legacy) else ABSENT
    return INSTALLED if current == entry.content.encode("utf-8") else DIFFERENT
