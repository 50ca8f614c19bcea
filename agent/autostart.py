"""Start the Agent at login: XDG autostart on Linux, the Startup folder on Windows, a LaunchAgent on macOS.

``autostart_entry`` is a pure function (platform, home, environment, interpreter → path and file text), so all
three platforms are tested on any machine; ``install``/``remove``/``status`` only write, delete or compare.
The entry runs ``<this interpreter> -m agent run`` from the folder that holds the ``agent`` package, because a
process started at login begins in the home folder, where ``-m agent`` would not be found. The downloaded
Agent (one zipapp file, agent/build.py) first copies itself into the agent home, so the entry runs
``<python> <home>/zaptrade-agent.pyz run`` and the manager may delete the file from his Downloads folder.

Windows: a file in the user's Startup folder rather than the HKCU Run key, because the user can see it,
open its folder from the Start menu (``shell:startup``) and delete it without a registry editor; it needs no
administrator rights either, and Task Manager's «Автозагрузка» tab lists and disables it like a Run key. The
file is a ``.vbs``: Windows runs it with wscript.exe, which has no console, and it starts ``pythonw.exe`` with
a hidden window and does not wait; a ``.cmd`` (the earlier Agent's) flashes a console at every login, and
installing the ``.vbs`` deletes it. The script is kept ASCII (WSH reads it in the ANSI code page), so a
Cyrillic user folder is spelled with ``ChrW()``. Known limits: ``WScript.Shell.Run`` expands ``%NAME%`` in the
command line, and Microsoft plans to switch VBScript off by default in a later Windows (announced 2024);
then this entry becomes a ``.lnk`` or the Run key.
"""

from __future__ import annotations

import contextlib
import os
import plistlib
import re
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath

from agent.config import LINUX, MACOS, WINDOWS, current_platform

LAUNCH_AGENT_LABEL = "ru.zaptrade.agent"
DESKTOP_FILE = "zaptrade-agent.desktop"
WINDOWS_FILE = "ZapTrade Agent.vbs"
WINDOWS_LEGACY_FILE = "ZapTrade Agent.cmd"  # what the Agent wrote before 1.0: removed on install
INSTALLED, DIFFERENT, ABSENT = "installed", "different", "absent"
ZIPAPP_NAME = "zaptrade-agent.pyz"


@dataclass(frozen=True)
class AutostartEntry:
    platform: str
    path: PurePath
    content: str
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


# --- Windows: a .vbs in the Startup folder ------------------------------------------------------------------------


def _vbs_string(value: str) -> str:
    """A VBScript string expression for ``value`` in ASCII only: ``"…"`` with ``""`` for a quote, and
    ``ChrW(n)`` per UTF-16 unit for anything else (WSH would read those bytes in the ANSI code page)."""
    pieces: list[str] = []
    literal: list[str] = []
    for char in value:
        if " " <= char <= "~":
            literal.append('""' if char == '"' else char)
            continue
        if literal:
            pieces.append('"' + "".join(literal) + '"')
            literal = []
        units = char.encode("utf-16-le", "surrogatepass")
        pieces.extend(f"ChrW({int.from_bytes(units[i : i + 2], 'little')})" for i in range(0, len(units), 2))
    if literal or not pieces:
        pieces.append('"' + "".join(literal) + '"')
    return " & ".join(pieces)


def _windows_entry(
    home: PureWindowsPath, environ: Mapping[str, str], python: str, workdir: str, zipapp: str | None
) -> AutostartEntry:
    appdata = environ.get("APPDATA")
    base = PureWindowsPath(appdata) if appdata else home / "AppData" / "Roaming"
    folder = base / "Microsoft" / "Windows" / "Start Menu" / "Programs" / "Startup"
    command = f'"{python}" "{zipapp}" run' if zipapp else f'"{python}" -m agent run'
    remove = (
        f"in the folder below run: python {PureWindowsPath(zipapp).name} autostart remove"
        if zipapp
        else "in the folder below run: python -m agent autostart remove"
    )
    lines = [
        "' ZapTrade CRM Agent: started at login, without a console window.",
        f"' To turn it off: delete this file, or {remove}",
        'Set shell = CreateObject("WScript.Shell")',
        f"shell.CurrentDirectory = {_vbs_string(workdir)}",
        f"shell.Run {_vbs_string(command)}, 0, False",
        "",
    ]
    return AutostartEntry(WINDOWS, folder / WINDOWS_FILE, "\r\n".join(lines), (folder / WINDOWS_LEGACY_FILE,))


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


def install(entry: AutostartEntry) -> Path:
    path = Path(entry.path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(entry.content.encode("utf-8"))
    for old in entry.legacy:
        _delete(Path(old))
    return path


def _delete(path: Path) -> bool:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
        return True
    return False


def remove(entry: AutostartEntry) -> bool:
    """Delete the entry (and an earlier Agent's); False when there was none."""
    deleted = [_delete(Path(path)) for path in (entry.path, *entry.legacy)]
    return any(deleted)


def status(entry: AutostartEntry) -> str:
    """installed (the same file), different (another interpreter or folder, e.g. after a move, or only an
    earlier Agent's entry) or absent."""
    try:
        current = Path(entry.path).read_bytes()
    except FileNotFoundError:
        return DIFFERENT if any(Path(old).exists() for old in entry.legacy) else ABSENT
    return INSTALLED if current == entry.content.encode("utf-8") else DIFFERENT
