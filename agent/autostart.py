"""Start the Agent at login: XDG autostart on Linux, the Startup folder on Windows, a LaunchAgent on macOS.

``autostart_entry`` is a pure function (platform, home, environment, interpreter → path and file text), so all
three platforms are tested on any machine; ``install``/``remove``/``status`` only write, delete or compare.
The entry runs ``<this interpreter> -m agent run`` from the folder that holds the ``agent`` package, because a
process started at login begins in the home folder, where ``-m agent`` would not be found.
"""

from __future__ import annotations

import contextlib
import os
import plistlib
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath

from agent.config import LINUX, MACOS, WINDOWS, current_platform

LAUNCH_AGENT_LABEL = "ru.zaptrade.agent"
DESKTOP_FILE = "zaptrade-agent.desktop"
WINDOWS_FILE = "ZapTrade Agent.cmd"
INSTALLED, DIFFERENT, ABSENT = "installed", "different", "absent"


@dataclass(frozen=True)
class AutostartEntry:
    platform: str
    path: PurePath
    content: str


def package_root() -> str:
    """The folder that contains the ``agent`` package: the working directory ``-m agent`` needs."""
    return str(Path(__file__).resolve().parent.parent)


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


def _linux_entry(home: PurePosixPath, environ: Mapping[str, str], python: str, workdir: str) -> AutostartEntry:
    xdg = environ.get("XDG_CONFIG_HOME")
    base = PurePosixPath(xdg) if xdg and PurePosixPath(xdg).is_absolute() else home / ".config"
    command = " ".join(_desktop_exec_arg(arg) for arg in (python, "-m", "agent", "run"))
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


# --- Windows: a .cmd in the Startup folder ------------------------------------------------------------------------


def _cmd_quote(value: str) -> str:
    # Windows paths cannot contain '"'; '%' must be doubled in a batch file
    return '"' + value.replace("%", "%%") + '"'


def _windows_entry(home: PureWindowsPath, environ: Mapping[str, str], python: str, workdir: str) -> AutostartEntry:
    appdata = environ.get("APPDATA")
    base = PureWindowsPath(appdata) if appdata else home / "AppData" / "Roaming"
    folder = base / "Microsoft" / "Windows" / "Start Menu" / "Programs" / "Startup"
    lines = [
        "@echo off",
        # cmd reads a batch file in the OEM code page; switch to UTF-8 so Cyrillic user folders survive
        "chcp 65001 >nul",
        "rem ZapTrade CRM Agent: started at login. To remove: python -m agent autostart remove",
        f"cd /d {_cmd_quote(workdir)}",
        f'start "" {_cmd_quote(python)} -m agent run',
        "",
    ]
    return AutostartEntry(WINDOWS, folder / WINDOWS_FILE, "\r\n".join(lines))


# --- macOS: a LaunchAgent --------------------------------------------------------------------------------------------


def _macos_entry(home: PurePosixPath, python: str, workdir: str) -> AutostartEntry:
    plist = {
        "Label": LAUNCH_AGENT_LABEL,
        "ProgramArguments": [python, "-m", "agent", "run"],
        "WorkingDirectory": workdir,
        "RunAtLoad": True,
        # no KeepAlive: after "password changed" (exit 2) launchd must not restart it into the same pop-up
        "ProcessType": "Interactive",
        "LimitLoadToSessionType": "Aqua",  # pop-ups need the user's graphical session
    }
    content = plistlib.dumps(plist, sort_keys=False).decode("utf-8")
    return AutostartEntry(MACOS, home / "Library" / "LaunchAgents" / f"{LAUNCH_AGENT_LABEL}.plist", content)


def autostart_entry(
    platform: str, home: PurePath | str, environ: Mapping[str, str], python: str, workdir: str
) -> AutostartEntry:
    """Path and content of the start-at-login entry for ``platform`` (linux, windows or macos)."""
    if platform == WINDOWS:
        return _windows_entry(PureWindowsPath(home), environ, python, workdir)
    if platform == MACOS:
        return _macos_entry(PurePosixPath(home), python, workdir)
    if platform == LINUX:
        return _linux_entry(PurePosixPath(home), environ, python, workdir)
    raise ValueError(f"unknown platform {platform!r}")


def current_entry() -> AutostartEntry:
    """The entry for this computer, this user and the interpreter running now."""
    platform = current_platform()
    python = windowless_python(sys.executable) if platform == WINDOWS else sys.executable
    return autostart_entry(platform, Path.home(), os.environ, python, package_root())


# --- the thin installer ------------------------------------------------------------------------------------------


def install(entry: AutostartEntry) -> Path:
    path = Path(entry.path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(entry.content.encode("utf-8"))
    return path


def remove(entry: AutostartEntry) -> bool:
    """Delete the entry; False when there was none."""
    path = Path(entry.path)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
        return True
    return False


def status(entry: AutostartEntry) -> str:
    """installed (the same file), different (another interpreter or folder, e.g. after a move) or absent."""
    try:
        current = Path(entry.path).read_bytes()
    except FileNotFoundError:
        return ABSENT
    return INSTALLED if current == entry.content.encode("utf-8") else DIFFERENT
