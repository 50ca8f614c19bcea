"""Connecting this computer: the login and password are exchanged once for a device token, which is stored;
the password itself is never written anywhere. Shared by the first-run window and the terminal setup."""

from __future__ import annotations

import logging
import platform
import socket
from dataclasses import dataclass
from pathlib import Path

from agent import autostart
from agent.client import AuthError, BadCursor, Client, ServerUnavailable
from agent.config import (
    Config,
    ConfigError,
    forget_password,
    load_config,
    read_password,
    save_config,
)
from agent.loop import CursorState, CursorStore
from agent.tokens import TokenStore, describe

log = logging.getLogger(__name__)


class ConnectFailed(Exception):
    """A reason in Russian, for the window or the terminal."""


@dataclass
class Connected:
    config: Config
    where: str  # "keyring" or "file"
    message: str  # Russian: where the token is kept
    autostart_path: Path | None = None


def device_name() -> str:
    """What the «Агент» page lists: the computer's name and its system."""
    return f"{socket.gethostname() or '?'} ({platform.system() or '?'})"


def connect_device(
    home: Path,
    server: str,
    username: str,
    password: str,
    *,
    install_autostart: bool = False,
    client: Client | None = None,
) -> Connected:
    """Exchange the password for a token, store it, write the config and the starting cursor."""
    client = client or Client(server)
    try:
        token = client.connect(username, password, device_name())
    except AuthError as exc:
        if " 429 " in f" {exc} ":
            raise ConnectFailed("Слишком много неудачных попыток входа. Попробуйте позже.") from exc
        raise ConnectFailed("Неверный логин или пароль.") from exc
    except ServerUnavailable as exc:
        raise ConnectFailed(f"Не удалось связаться с сервером {server}: {exc}") from exc
    try:
        previous: Config | None = load_config(home)
    except ConfigError:
        previous = None
    tokens = TokenStore(home)
    if previous is not None:
        tokens.forget(previous.username)
    where = tokens.save(username, token)
    config = Config(server=server, username=username, token_store=where)
    try:
        settings = client.get_settings(token)
        config.poll_seconds = settings.poll_seconds
    except (ServerUnavailable, AuthError) as exc:
        log.warning("settings not read while connecting: %s", exc)
    save_config(home, Config.from_dict(config.__dict__))
    # Take the feed's "now" already: events between connecting and the first run are caught up, not skipped.
    store = CursorStore(home, server, username)
    if store.load().cursor is None:
        try:
            store.save(CursorState(cursor=client.events(token, None).cursor))
        except (ServerUnavailable, AuthError, BadCursor) as exc:
            log.warning("initial cursor not taken while connecting: %s", exc)
    path = None
    if install_autostart:
        path = autostart.install(autostart.current_entry(home))
    log.info("connected as %s to %s; token in the %s", username, server, where)
    return Connected(config=config, where=where, message=describe(where, home), autostart_path=path)


def upgrade_from_password(home: Path, config: Config) -> bool:
    """An Agent set up before device tokens kept the password in the keyring: exchange it once for a token
    and delete it, so the manager need not log in again. True when the computer is connected now."""
    try:
        password = read_password(config.username)
    except Exception:  # no keyring at all is the usual case: nothing to upgrade
        return False
    if not password:
        return False
    try:
        connect_device(home, config.server, config.username, password)
    except ConnectFailed as exc:
        log.warning("the stored password could not be exchanged for a device token: %s", exc)
        return False
    finally:
        password = ""
    forget_password(config.username)
    log.info("the password stored by an earlier Agent was exchanged for a device token and deleted")
    return True
