"""Where the device token lives: the OS keyring when a real one is there, else a file only the user can read.

The token (never the password) is what lets the Agent start at login unattended. A real keyring is Windows'
Credential Locker, macOS' Keychain or a Secret Service (GNOME Keyring, KWallet); keyrings.alt's plain-text
file and keyrings.cryptfile (which asks for its own password at every start) are not. Without one, the token
goes to ``token`` in the agent home with mode 0600 (on Windows the home is in the user's own profile,
``%APPDATA%``, which only he and the administrators can read) — what ``gh`` and similar tools do.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path

from agent.config import InsecureKeyringError, KeyringUnavailable, secure_keyring

log = logging.getLogger(__name__)

TOKEN_SERVICE = "zaptrade-agent-token"
TOKEN_FILE = "token"
KEYRING, FILE = "keyring", "file"


def describe(where: str, home: Path) -> str:
    """In Russian, for the user: where his token is kept."""
    if where == KEYRING:
        return "Ключ доступа сохранён в хранилище паролей системы."
    return f"Хранилища паролей системы нет: ключ доступа сохранён в файле {home / TOKEN_FILE}, доступном только вам."


def write_private_file(path: Path, text: str) -> None:
    """Temp file created 0600 in the same folder, fsync, os.replace: never readable by others, never half."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.chmod(tmp, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class TokenStore:
    """Save, read and forget the device token of one login, in the keyring or the private file."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.file = home / TOKEN_FILE

    def save(self, username: str, token: str, prefer_keyring: bool = True) -> str:
        """Store the token; returns KEYRING or FILE (the user is told which)."""
        if prefer_keyring:
            try:
                backend = secure_keyring()
                backend.set_password(TOKEN_SERVICE, username, token)
            except InsecureKeyringError as exc:
                log.info("no OS keyring for the token (%s): using a private file", exc)
            except Exception as exc:  # a locked or broken keyring: the file still works unattended
                log.warning("the keyring refused the token (%s: %s): using a private file", type(exc).__name__, exc)
            else:
                with contextlib.suppress(OSError):
                    self.file.unlink()
                log.info("device token stored in the keyring (%s)", type(backend).__name__)
                return KEYRING
        write_private_file(self.file, token + "\n")
        log.info("device token stored in %s (mode 0600)", self.file)
        return FILE

    def load(self, username: str, where: str) -> str | None:
        """The token, None when there is none; KeyringUnavailable when the keyring cannot answer now."""
        if where == FILE:
            try:
                return self.file.read_text(encoding="utf-8").strip() or None
            except FileNotFoundError:
                return None
        try:
            return secure_keyring().get_password(TOKEN_SERVICE, username)
        except InsecureKeyringError as exc:
            raise KeyringUnavailable(str(exc)) from exc
        except Exception as exc:
            raise KeyringUnavailable(f"{type(exc).__name__}: {exc}") from exc

    def forget(self, username: str) -> None:
        """Drop the token wherever it is (revoked, or another login set up); nothing there is fine."""
        with contextlib.suppress(OSError):
            self.file.unlink()
        with contextlib.suppress(Exception):
            secure_keyring().delete_password(TOKEN_SERVICE, username)
