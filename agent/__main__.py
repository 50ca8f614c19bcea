"""Command line of the Agent: ``python -m agent setup | run | settings | autostart``.

Messages for the user are in Russian; the log file (``agent.log`` in the agent home) is in English.
Exit codes: 0 done, 1 failed (network, bad input), 2 the user must run setup (again), 3 already running.
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
    AuthError,
    AuthSession,
    BadCursor,
    Client,
    PasswordChanged,
    PasswordMissing,
    ServerUnavailable,
    Settings,
)
from agent.config import (
    LOCK_FILE,
    LOG_FILE,
    MAX_POLL_SECONDS,
    MIN_POLL_SECONDS,
    Config,
    ConfigError,
    InsecureKeyringError,
    KeyringUnavailable,
    agent_home,
    clamp_poll_seconds,
    forget_password,
    load_config,
    normalize_server_url,
    read_password,
    save_config,
    secure_keyring,
    store_password,
)
from agent.loop import (
    EXIT_FAILED,
    EXIT_NEEDS_SETUP,
    EXIT_OK,
    PASSWORD_MISSING_TITLE,
    Agent,
    CursorState,
    CursorStore,
    InstanceLock,
)
from agent.notifier import Notifier, NotifyFunc

log = logging.getLogger("agent")

EXIT_ALREADY_RUNNING = 3

KIND_LABELS = {
    "request_created": "новый запрос",
    "request_status": "изменение статуса запроса",
    "delivery_status": "изменение статуса поставки",
    "request_comment": "комментарий к запросу",
    "reminder": "напоминания",
}

NOT_CONFIGURED = "Агент не настроен. Запустите настройку: python -m agent setup"
INSECURE_KEYRING = (
    "Не найдено защищённое хранилище паролей системы: {detail}.\n"
    "Пароль не будет сохранён в открытом виде. Linux: установите и разблокируйте GNOME Keyring или KWallet "
    "(служба Secret Service); Windows и macOS используют хранилище системы сами."
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


def cmd_setup(args: argparse.Namespace, home: Path) -> int:
    try:
        previous: Config | None = load_config(home)
    except ConfigError:
        previous = None
    try:
        server = normalize_server_url(
            args.server or _ask("Адрес сервера CRM (например, https://crm.example.ru)", previous and previous.server)
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
    try:
        secure_keyring()  # refuse before the user types the password for nothing
    except InsecureKeyringError as exc:
        log.error("setup refused: %s", exc)
        _err(INSECURE_KEYRING.format(detail=exc))
        return EXIT_FAILED
    password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else getpass.getpass("Пароль: ")
    if not password:
        _err("Пароль не может быть пустым.")
        return EXIT_FAILED

    client = Client(server)
    try:
        tokens = client.login(username, password)
    except AuthError:
        _err("Неверный логин или пароль.")
        return EXIT_FAILED
    except ServerUnavailable as exc:
        _err(f"Не удалось связаться с сервером {server}: {exc}")
        return EXIT_FAILED

    poll_seconds = previous.poll_seconds if previous else Config(server, username).poll_seconds
    try:
        poll_seconds = clamp_poll_seconds(client.get_settings(tokens.access_token).poll_seconds)
    except (ServerUnavailable, AuthError) as exc:
        log.warning("settings not read during setup: %s", exc)

    try:
        store_password(username, password)
    except InsecureKeyringError as exc:
        _err(INSECURE_KEYRING.format(detail=exc))
        return EXIT_FAILED
    if previous and previous.username != username:
        forget_password(previous.username)
    config = Config(server=server, username=username, poll_seconds=poll_seconds)
    save_config(home, config)

    # Take the feed's "now" already: events between setup and the first run are then caught up, not skipped.
    store = CursorStore(home, server, username)
    if store.load().cursor is None:
        try:
            store.save(CursorState(cursor=client.events(tokens.access_token, None).cursor))
        except (ServerUnavailable, AuthError, BadCursor) as exc:
            log.warning("initial cursor not taken during setup: %s", exc)
    log.info("set up for %s at %s", username, server)
    print(f"Готово: агент настроен для пользователя {username} на сервере {server}.")
    print("Пароль сохранён в хранилище паролей системы.")
    print("Запуск: python -m agent run; автозапуск при входе в систему: python -m agent autostart install")
    return EXIT_OK


# --- run ---------------------------------------------------------------------------------------------------------


def _install_stop_signals(stop: threading.Event) -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    for name in ("SIGTERM", "SIGHUP", "SIGBREAK"):
        number = getattr(signal, name, None)
        if number is not None:
            signal.signal(number, lambda _signum, _frame: stop.set())


def cmd_run(args: argparse.Namespace, home: Path, notify: NotifyFunc | None) -> int:
    lock = InstanceLock(home / LOCK_FILE)
    if not lock.acquire():
        _err("Агент уже запущен.")
        return EXIT_ALREADY_RUNNING
    try:
        notifier = Notifier(notify)
        try:
            config = load_config(home)
        except ConfigError as exc:
            log.error("not configured: %s", exc)
            notifier.show(PASSWORD_MISSING_TITLE, NOT_CONFIGURED, what="not configured")
            _err(NOT_CONFIGURED)
            return EXIT_NEEDS_SETUP
        session = AuthSession(Client(config.server), config.username, lambda: read_password(config.username))
        stop = threading.Event()
        _install_stop_signals(stop)
        agent = Agent(
            session,
            notifier,
            CursorStore(home, config.server, config.username),
            poll_seconds=config.poll_seconds,
            stop=stop,
        )
        log.info("agent %s started for %s at %s (log: %s)", __version__, config.username, config.server, home)
        try:
            return agent.run(once=args.once)
        except KeyboardInterrupt:
            return EXIT_OK
        finally:
            log.info("agent stopped")
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
        _err(NOT_CONFIGURED)
        return EXIT_NEEDS_SETUP
    enable, disable = set(args.enable or ()), set(args.disable or ())
    if enable & disable:
        _err("Один и тот же вид нельзя одновременно включить и выключить: " + ", ".join(sorted(enable & disable)))
        return EXIT_FAILED
    if args.poll_seconds is not None and not MIN_POLL_SECONDS <= args.poll_seconds <= MAX_POLL_SECONDS:
        _err(f"Интервал опроса должен быть от {MIN_POLL_SECONDS} до {MAX_POLL_SECONDS} секунд.")
        return EXIT_FAILED
    session = AuthSession(Client(config.server), config.username, lambda: read_password(config.username))
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
        _err("Сервер не принял сохранённый пароль (или его нет). Запустите настройку заново: python -m agent setup")
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
    entry = autostart.current_entry()
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
            print("Обновите его: python -m agent autostart install")
        else:
            print("Автозапуск выключен.")
    return EXIT_OK


# --- entry point -------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m agent", description="Агент ZapTrade CRM: всплывающие уведомления")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="подробный журнал")
    commands = parser.add_subparsers(dest="command", required=True)

    setup = commands.add_parser("setup", help="указать сервер, логин и пароль")
    setup.add_argument("--server", help="адрес сервера CRM")
    setup.add_argument("--username", help="логин")
    setup.add_argument("--password-stdin", action="store_true", help="прочитать пароль из первой строки stdin")

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
        setup_logging(home, args.verbose, console=args.command == "run")
        if args.command == "setup":
            return cmd_setup(args, home)
        if args.command == "settings":
            return cmd_settings(args, home)
        return cmd_run(args, home, notify)
    except (KeyboardInterrupt, EOFError):
        _err("\nПрервано.")
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
