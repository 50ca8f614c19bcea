"""Command line of the Agent: ``python zaptrade-agent.pyz [setup | run | window | settings | autostart]``.

Without a command it runs when this computer is connected, and otherwise opens the first-run window (or asks
in the terminal when there is no display). Messages for the user are in Russian; the log file (``agent.log``
in the agent home) is in English.
Exit codes: 0 done, 1 failed (network, bad input), 2 the user must log in (again), 3 already running.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import logging.handlers
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from agent import __version__, autostart
from agent.client import (
    KINDS,
    Client,
    PasswordChanged,
    PasswordMissing,
    ServerUnavailable,
    Settings,
    TokenSession,
)
from agent.config import (
    LOCK_FILE,
    LOG_FILE,
    MAX_POLL_SECONDS,
    MIN_POLL_SECONDS,
    Config,
    ConfigError,
    KeyringUnavailable,
    agent_home,
    bundled_server,
    clamp_poll_seconds,
    load_config,
    normalize_server_url,
    save_config,
)
from agent.connecting import ConnectFailed, connect_device, upgrade_from_password
from agent.loop import (
    EXIT_FAILED,
    EXIT_NEEDS_SETUP,
    EXIT_OK,
    PASSWORD_MISSING_TITLE,
    Agent,
    CursorStore,
    InstanceLock,
)
from agent.notifier import Notifier, NotifyFunc
from agent.tokens import TokenStore

log = logging.getLogger("agent")

EXIT_ALREADY_RUNNING = 3

KIND_LABELS = {
    "request_created": "новый запрос",
    "request_status": "изменение статуса запроса",
    "delivery_status": "изменение статуса поставки",
    "request_comment": "комментарий к запросу",
    "reminder": "напоминания",
}


def program() -> str:
    """How the user starts this Agent: the downloaded file, or the package from a source folder."""
    zipapp = autostart.running_zipapp()
    return f"python {zipapp.name}" if zipapp else "python -m agent"


def not_configured() -> str:
    return f"Агент не подключён к CRM. Запустите его и войдите: {program()} setup"


def log_in_again() -> str:
    return f"Агент отключён — войдите снова: {program()} setup (или запустите Агент и войдите в его окне)"


NO_WINDOW_TEXT = (
    "Окно Агента не открылось: в этом Python нет tkinter. Установите Python с python.org с отмеченным "
    "компонентом «tcl/tk and IDLE» и запустите Агент снова."
)


def _err(text: str) -> None:
    print(text, file=sys.stderr)


# --- logging -----------------------------------------------------------------------------------------------------

_OUR_HANDLER = "_zaptrade_agent_handler"


def setup_logging(home: Path, verbose: bool = False, console: bool = True) -> None:
    """Rotating file in the agent home plus stderr (absent under pythonw); plyer's warnings go there too.

    ``console=False`` for the interactive commands: they talk to the user in Russian, the log stays in the file.
    """
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers: list[logging.Handler] = [
        logging.handlers.RotatingFileHandler(home / LOG_FILE, maxBytes=1_000_000, backupCount=3, encoding="utf-8")
    ]
    if console and sys.stderr is not None:
        handlers.append(logging.StreamHandler(sys.stderr))
    for name in ("agent", "py.warnings"):
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if getattr(h, _OUR_HANDLER, False)]:
            logger.removeHandler(old)
            old.close()
        for handler in handlers:
            handler.setFormatter(formatter)
            setattr(handler, _OUR_HANDLER, True)
            logger.addHandler(handler)
        logger.setLevel(logging.DEBUG if verbose else logging.INFO)
        logger.propagate = False
    logging.captureWarnings(True)


# --- setup -------------------------------------------------------------------------------------------------------


def _ask(prompt: str, default: str | None) -> str:
    suffix = f" [{default}]" if default else ""
    answer = input(f"{prompt}{suffix}: ").strip()
    return answer or (default or "")


def _previous_config(home: Path) -> Config | None:
    try:
        return load_config(home)
    except ConfigError:
        return None


def default_server(home: Path) -> str | None:
    """The address to offer: the one used before, else the one written into the downloaded file."""
    previous = _previous_config(home)
    return previous.server if previous else bundled_server()


def cmd_setup(args: argparse.Namespace, home: Path) -> int:
    """Terminal set-up (headless computers): the password is exchanged for a device token, never stored."""
    previous = _previous_config(home)
    try:
        server = normalize_server_url(
            args.server or _ask("Адрес сервера CRM (например, https://crm.example.ru)", default_server(home))
        )
    except ValueError:
        _err("Неверный адрес сервера: нужен адрес вида https://crm.example.ru")
        return EXIT_FAILED
    if server.startswith("http://") and not server.startswith(("http://127.0.0.1", "http://localhost")):
        _err("Внимание: адрес без https — пароль будет передаваться по сети незашифрованным.")
    username = (args.username or _ask("Логин", previous and previous.username)).strip()
    if not username:
        _err("Логин не может быть пустым.")
        return EXIT_FAILED
    password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else getpass.getpass("Пароль: ")
    if not password:
        _err("Пароль не может быть пустым.")
        return EXIT_FAILED
    try:
        connected = connect_device(home, server, username, password, install_autostart=args.autostart)
    except ConnectFailed as exc:
        _err(str(exc))
        return EXIT_FAILED
    finally:
        password = ""
    print(f"Готово: агент подключён для пользователя {username} на сервере {server}.")
    print(connected.message)
    if connected.autostart_path is not None:
        print(f"Автозапуск при входе в систему включён: {connected.autostart_path}")
    else:
        print(f"Запуск: {program()} run; автозапуск при входе в систему: {program()} autostart install")
    return EXIT_OK


def open_window(home: Path, notifier: Notifier) -> bool:
    """The first-run window, prefilled with the server and the login used before; True once connected."""
    from agent.window import SetupForm, SetupWindow

    previous = _previous_config(home)
    form = SetupForm(home=home, server=default_server(home) or "", username=previous.username if previous else "")
    return SetupWindow(form, notifier).run()


def cmd_window(args: argparse.Namespace, home: Path, notify: NotifyFunc | None) -> int:
    from agent.window import display_available

    if not display_available():
        _err("Окно показать нельзя (нет экрана или tkinter). Подключите Агент в терминале: " + f"{program()} setup")
        return EXIT_FAILED
    return EXIT_OK if open_window(home, Notifier(notify)) else EXIT_NEEDS_SETUP


def cmd_start(args: argparse.Namespace, home: Path, notify: NotifyFunc | None) -> int:
    """No command: run when connected; otherwise connect first (the window, or the terminal headless)."""
    from agent.window import display_available

    config = _previous_config(home)
    notifier = None
    if config is None or not _has_token(home, config):
        notifier = Notifier(notify)  # one for the window and the run after it: a problem is logged once
        if display_available():
            if not open_window(home, notifier):
                return EXIT_NEEDS_SETUP
            if notify is None and _continue_without_console():
                return EXIT_OK
        elif sys.stdin is None:
            # pythonw (a double-clicked .pyzw) without tkinter: no window and no terminal to ask in
            notifier.show(PASSWORD_MISSING_TITLE, NO_WINDOW_TEXT, what="no window")
            return EXIT_NEEDS_SETUP
        else:
            print("Подключение Агента к CRM (окна здесь нет: вопросы в терминале).")
            setup_args = argparse.Namespace(server=None, username=None, password_stdin=False, autostart=True)
            if cmd_setup(setup_args, home) != EXIT_OK:
                return EXIT_NEEDS_SETUP
    return cmd_run(argparse.Namespace(once=False), home, notify, notifier)


def _continue_without_console() -> bool:
    """Windows, started by a double click (python.exe, with a console window): go on in pythonw.exe, so
    closing the console does not stop the Agent. True when the background copy was started."""
    if sys.platform != "win32":
        return False
    pythonw = autostart.windowless_python(sys.executable)
    if pythonw == sys.executable:
        return False
    import subprocess

    zipapp = autostart.running_zipapp()
    args = [pythonw, str(zipapp), "run"] if zipapp else [pythonw, "-m", "agent", "run"]
    flags = getattr(subprocess, "DETACHED_PROCESS", 0) | getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
    try:
        subprocess.Popen(args, cwd=str(zipapp.parent) if zipapp else autostart.package_root(), creationflags=flags)
    except OSError as exc:
        log.warning("could not continue in %s (%s): running here", pythonw, exc)
        return False
    return True


def _has_token(home: Path, config: Config) -> bool:
    try:
        if TokenStore(home).load(config.username, config.token_store):
            return True
    except KeyringUnavailable:
        return True  # a keyring locked just after login: the run loop retries it
    return upgrade_from_password(home, config)


# --- run ---------------------------------------------------------------------------------------------------------


def _install_stop_signals(stop: threading.Event) -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    for name in ("SIGTERM", "SIGHUP", "SIGBREAK"):
        number = getattr(signal, name, None)
        if number is not None:
            signal.signal(number, lambda _signum, _frame: stop.set())


def _run_connected(args: argparse.Namespace, home: Path, notifier: Notifier) -> tuple[int, bool]:
    """One run with the stored token; returns the exit code and whether the device was disconnected."""
    try:
        config = load_config(home)
    except ConfigError as exc:
        log.error("not configured: %s", exc)
        notifier.show(PASSWORD_MISSING_TITLE, not_configured(), what="not configured")
        return EXIT_NEEDS_SETUP, False
    if not _has_token(home, config):
        config = load_config(home)  # an earlier Agent's password may just have been exchanged for a token
    tokens = TokenStore(home)
    session = TokenSession(
        Client(config.server), config.username, lambda: tokens.load(config.username, config.token_store)
    )
    stop = threading.Event()
    _install_stop_signals(stop)
    revoked = threading.Event()

    def forget_token() -> None:
        tokens.forget(config.username)
        revoked.set()

    agent = Agent(
        session,
        notifier,
        CursorStore(home, config.server, config.username),
        poll_seconds=config.poll_seconds,
        stop=stop,
        on_revoked=forget_token,
    )
    where = "the OS keyring" if config.token_store == "keyring" else f"the file {home / 'token'} (mode 0600)"
    log.info(
        "agent %s started for %s at %s (token in %s; log: %s)", __version__, config.username, config.server, where, home
    )
    try:
        return agent.run(once=args.once), revoked.is_set()
    except KeyboardInterrupt:
        return EXIT_OK, False
    finally:
        log.info("agent stopped")


def cmd_run(args: argparse.Namespace, home: Path, notify: NotifyFunc | None, notifier: Notifier | None = None) -> int:
    lock = InstanceLock(home / LOCK_FILE)
    if not lock.acquire():
        _err("Агент уже запущен.")
        return EXIT_ALREADY_RUNNING
    try:
        notifier = notifier or Notifier(notify)
        while True:
            code, revoked = _run_connected(args, home, notifier)
            if code != EXIT_NEEDS_SETUP:
                return code
            if not revoked:
                _err(not_configured())
                return code
            # Disconnected: the pop-up has said so; open the window to log in again, or say what to do.
            from agent.window import display_available

            if args.once or not display_available():
                _err(log_in_again())
                return code
            if not open_window(home, notifier):
                return code
    finally:
        lock.release()


# --- settings ----------------------------------------------------------------------------------------------------


def _print_settings(settings: Settings) -> None:
    print("Уведомления:")
    for kind in KINDS:
        mark = "x" if settings.kinds.get(kind, False) else " "
        print(f"  [{mark}] {kind:<16} {KIND_LABELS[kind]}")
    print(f"Интервал опроса: {settings.poll_seconds} с")


def cmd_settings(args: argparse.Namespace, home: Path) -> int:
    try:
        config = load_config(home)
    except ConfigError:
        _err(not_configured())
        return EXIT_NEEDS_SETUP
    enable, disable = set(args.enable or ()), set(args.disable or ())
    if enable & disable:
        _err("Один и тот же вид нельзя одновременно включить и выключить: " + ", ".join(sorted(enable & disable)))
        return EXIT_FAILED
    if args.poll_seconds is not None and not MIN_POLL_SECONDS <= args.poll_seconds <= MAX_POLL_SECONDS:
        _err(f"Интервал опроса должен быть от {MIN_POLL_SECONDS} до {MAX_POLL_SECONDS} секунд.")
        return EXIT_FAILED
    tokens = TokenStore(home)
    session = TokenSession(
        Client(config.server), config.username, lambda: tokens.load(config.username, config.token_store)
    )
    try:
        settings = session.call(session.client.get_settings)
        if enable or disable or args.poll_seconds is not None:
            for kind in enable:
                settings.kinds[kind] = True
            for kind in disable:
                settings.kinds[kind] = False
            if args.poll_seconds is not None:
                settings.poll_seconds = args.poll_seconds
            try:
                settings = session.call(lambda token: session.client.put_settings(token, settings))
            except ValueError as exc:
                _err(f"Сервер отклонил настройки: {exc}")
                return EXIT_FAILED
            print("Настройки сохранены.")
    except (PasswordChanged, PasswordMissing):
        _err(log_in_again())
        return EXIT_NEEDS_SETUP
    except (ServerUnavailable, KeyringUnavailable) as exc:
        _err(f"Не удалось связаться с сервером {config.server}: {exc}")
        return EXIT_FAILED
    interval = clamp_poll_seconds(settings.poll_seconds)
    if interval != config.poll_seconds:
        config.poll_seconds = interval
        save_config(home, config)
    _print_settings(settings)
    return EXIT_OK


# --- autostart ---------------------------------------------------------------------------------------------------


def cmd_autostart(args: argparse.Namespace) -> int:
    entry = autostart.current_entry(agent_home() if args.action == "install" else None)
    if args.action == "install":
        path = autostart.install(entry)
        print(f"Автозапуск включён: {path}")
    elif args.action == "remove":
        if autostart.remove(entry):
            print(f"Автозапуск выключен: удалён {entry.path}")
        else:
            print("Автозапуск не был включён.")
    else:
        state = autostart.status(entry)
        if state == autostart.INSTALLED:
            print(f"Автозапуск включён: {entry.path}")
        elif state == autostart.DIFFERENT:
            print(f"Автозапуск включён, но указывает на другой Python или папку: {entry.path}")
            print(f"Обновите его: {program()} autostart install")
        else:
            print("Автозапуск выключен.")
    return EXIT_OK


# --- entry point -------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=program(),
        description="Агент ZapTrade CRM: всплывающие уведомления CRM в углу экрана. "
        "Без команды: подключает компьютер (окно) при первом запуске, затем получает уведомления.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="подробный журнал")
    commands = parser.add_subparsers(dest="command")

    setup = commands.add_parser("setup", help="подключить компьютер в терминале: сервер, логин, пароль")
    setup.add_argument("--server", help="адрес сервера CRM")
    setup.add_argument("--username", help="логин")
    setup.add_argument("--password-stdin", action="store_true", help="прочитать пароль из первой строки stdin")
    setup.add_argument("--autostart", action="store_true", help="и запускать при входе в систему")

    commands.add_parser("window", help="окно подключения (сервер, логин, пароль, проверка уведомления)")

    run = commands.add_parser("run", help="получать уведомления")
    run.add_argument("--once", action="store_true", help="один цикл опроса и выход")

    settings = commands.add_parser("settings", help="показать и изменить виды уведомлений и интервал опроса")
    kinds_help = "включить вид: " + ", ".join(KINDS)
    settings.add_argument("--enable", action="append", choices=KINDS, metavar="KIND", help=kinds_help)
    settings.add_argument("--disable", action="append", choices=KINDS, metavar="KIND", help="выключить вид (те же)")
    settings.add_argument("--poll-seconds", type=int, metavar="N", help="интервал опроса, секунд")

    auto = commands.add_parser("autostart", help="запуск агента при входе в систему")
    auto.add_argument("action", choices=("install", "remove", "status"))
    return parser


def main(argv: Sequence[str] | None = None, *, notify: NotifyFunc | None = None) -> int:
    """CLI entry; ``notify`` replaces plyer's call (tests)."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "autostart":
            return cmd_autostart(args)
        home = agent_home()
        setup_logging(home, args.verbose, console=args.command in ("run", None))
        if args.command == "setup":
            return cmd_setup(args, home)
        if args.command == "settings":
            return cmd_settings(args, home)
        if args.command == "window":
            return cmd_window(args, home, notify)
        if args.command == "run":
            return cmd_run(args, home, notify)
        return cmd_start(args, home, notify)
    except (KeyboardInterrupt, EOFError):
        _err("\nПрервано.")
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
