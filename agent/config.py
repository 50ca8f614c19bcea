"""Where the Agent keeps its files, the config file itself, and the password in the OS keyring.

The password never touches a plain file: only the server URL, the login and the poll interval are
written to ``config.json``; the password goes to the OS keyring (service ``zaptrade-agent``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

KEYRING_SERVICE = "zaptrade-agent"
HOME_ENV = "ZAPTRADE_AGENT_HOME"
CONFIG_FILE = "config.json"
CURSOR_FILE = "cursor.json"
LOG_FILE = "agent.log"
LOCK_FILE = "agent.lock"
DEFAULT_POLL_SECONDS = 30
MIN_POLL_SECONDS = 5
MAX_POLL_SECONDS = 3600

LINUX, WINDOWS, MACOS = "linux", "windows", "macos"


class ConfigError(Exception):
    """The Agent is not set up, or its config file cannot be used: the user must run ``setup``."""


class InsecureKeyringError(Exception):
    """Only a keyring that would keep the password in plain text (or nowhere) is available."""


class KeyringUnavailable(Exception):
    """The keyring exists but cannot answer right now (e.g. still locked just after login): retry later."""


def current_platform(sys_platform: str | None = None) -> str:
    """Our three platform names; anything that is neither Windows nor macOS is treated like Linux (XDG)."""
    name = sys_platform or sys.platform
    if name.startswith(("win32", "cygwin")):
        return WINDOWS
    if name == "darwin":
        return MACOS
    return LINUX


def agent_home_path(platform: str, home: PurePath | str, environ: Mapping[str, str]) -> PurePath:
    """The per-user folder of the Agent for a platform, computed without touching the disk (testable anywhere)."""
    override = environ.get(HOME_ENV)
    if platform == WINDOWS:
        win_home = PureWindowsPath(home)
        if override:
            return PureWindowsPath(override)
        appdata = environ.get("APPDATA")
        base = PureWindowsPath(appdata) if appdata else win_home / "AppData" / "Roaming"
        return base / "ZapTrade Agent"
    if override:
        return PurePosixPath(override)
    posix_home = PurePosixPath(home)
    if platform == MACOS:
        return posix_home / "Library" / "Application Support" / "ZapTrade Agent"
    xdg = environ.get("XDG_CONFIG_HOME")
    base = PurePosixPath(xdg) if xdg and PurePosixPath(xdg).is_absolute() else posix_home / ".config"
    return base / "zaptrade-agent"


def agent_home(create: bool = True) -> Path:
    """The Agent's folder on this computer (``ZAPTRADE_AGENT_HOME`` overrides it), created on demand."""
    path = Path(agent_home_path(current_platform(), Path.home(), os.environ))
    if create and not path.exists():
        path.mkdir(mode=0o700, parents=True)  # the log and the cursor are nobody else's business
    return path


def atomic_write_text(path: Path, text: str) -> None:
    """Write through a temp file in the same folder + fsync + os.replace, so a crash leaves old or new, never half."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise


def normalize_server_url(url: str) -> str:
    """``crm.example.ru`` → ``https://crm.example.ru``; trailing slashes dropped; anything but http(s) refused."""
    url = url.strip()
    if url and "://" not in url:
        url = "https://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an http(s) address: {url!r}")
    return url.rstrip("/")


@dataclass
class Config:
    """What ``setup`` stores in ``config.json``: deliberately no password and no token.

    ``token_store`` says where the device token is: "keyring" or "file" (agent/tokens.py).
    """

    server: str
    username: str
    poll_seconds: int = DEFAULT_POLL_SECONDS
    token_store: str = "keyring"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Config:
        server = normalize_server_url(str(data["server"]))
        username = str(data["username"])
        if not username:
            raise ValueError("empty username")
        token_store = "file" if data.get("token_store") == "file" else "keyring"
        return cls(
            server=server,
            username=username,
            poll_seconds=clamp_poll_seconds(data.get("poll_seconds")),
            token_store=token_store,
        )


def clamp_poll_seconds(value: object) -> int:
    """Keep the interval sane whatever the file or the server says: never hammer the server, never go silent."""
    try:
        seconds = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return DEFAULT_POLL_SECONDS
    return max(MIN_POLL_SECONDS, min(MAX_POLL_SECONDS, seconds))


def bundled_server() -> str | None:
    """The CRM address written into the downloaded file (agent/server.json, see agent/build.py), if any."""
    import pkgutil

    try:
        raw = pkgutil.get_data("agent", "server.json")
    except OSError:
        return None
    try:
        return normalize_server_url(str(json.loads(raw or b"{}")["server"]))
    except (ValueError, KeyError, TypeError):
        return None


def config_path(home: Path) -> Path:
    return home / CONFIG_FILE


def load_config(home: Path) -> Config:
    """Read ``config.json``; a missing or broken file means "run setup" (ConfigError with the reason)."""
    path = config_path(home)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Config.from_dict(data)
    except FileNotFoundError as exc:
        raise ConfigError(f"no config file at {path}") from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"config file {path} is unreadable: {exc}") from exc


def save_config(home: Path, config: Config) -> Path:
    path = config_path(home)
    atomic_write_text(path, json.dumps(asdict(config), ensure_ascii=False, indent=2) + "\n")
    return path


# --- keyring -----------------------------------------------------------------------------------------------------

# Backends that "store" a password in plain text or not at all. keyring picks fail.Keyring when no OS keyring is
# reachable (a server without a desktop session, for instance).
_INSECURE_BACKENDS = {
    "keyring.backends.fail.Keyring",
    "keyring.backends.null.Keyring",
    "keyrings.alt.file.PlaintextKeyring",
    "keyrings.alt.Google.DocsKeyring",
}


def _backend_name(backend: object) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def _is_insecure(backend: object) -> bool:
    name = _backend_name(backend)
    # keyrings.cryptfile asks for its own password at every start: no unattended start at login
    return name in _INSECURE_BACKENDS or "plaintext" in name.lower() or "cryptfile" in name.lower()


def secure_keyring() -> Any:
    """The OS keyring to store the password in, or InsecureKeyringError when only plain-text/fail backends exist.

    From a chain of backends the first secure one is returned: the chain itself would write to its first member,
    which may be a plain-text file.
    """
    import keyring
    from keyring.backends.chainer import ChainerBackend

    backend = keyring.get_keyring()
    members = list(backend.backends) if isinstance(backend, ChainerBackend) else [backend]
    secure = [member for member in members if not _is_insecure(member)]
    if not secure:
        names = ", ".join(_backend_name(member) for member in members) or "none"
        raise InsecureKeyringError(f"no secure OS keyring available (backends: {names})")
    return secure[0]


def store_password(username: str, password: str) -> None:
    """Put the password in the OS keyring; refuses (InsecureKeyringError) rather than fall back to a plain file."""
    from keyring.errors import KeyringError

    backend = secure_keyring()
    try:
        backend.set_password(KEYRING_SERVICE, username, password)
    except KeyringError as exc:
        raise InsecureKeyringError(f"the keyring refused the password: {exc}") from exc
    log.info("password for %s stored in the keyring (%s)", username, _backend_name(backend))


def read_password(username: str) -> str | None:
    """The stored password, None when there is none; KeyringUnavailable when the keyring cannot answer now."""
    import keyring
    from keyring.errors import KeyringError

    try:
        return keyring.get_password(KEYRING_SERVICE, username)
    except KeyringError as exc:
        raise KeyringUnavailable(f"keyring {_backend_name(keyring.get_keyring())}: {exc}") from exc


def forget_password(username: str) -> None:
    """Drop a stored password (a different login was set up); a missing entry is fine."""
    import keyring
    from keyring.errors import KeyringError, PasswordDeleteError

    with contextlib.suppress(PasswordDeleteError, KeyringError):
        keyring.delete_password(KEYRING_SERVICE, username)
