"""Pure parts of the Agent: backoff, cursor file, truncation and pop-up text, platform paths, keyring refusal."""

from __future__ import annotations

import ast
import json
import logging
import os
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath, PureWindowsPath

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null

from agent import config
from agent.client import Event
from agent.loop import Backoff, CursorState, CursorStore, notifications_word
from agent.notifier import ELLIPSIS, MESSAGE_LIMIT, TITLE_LIMIT, Notifier, clean_text, diagnose_backend, truncate
from tests.agent.keyrings_for_tests import MemoryKeyring
from tests.agent.support import Recorder

# --- backoff -------------------------------------------------------------------------------------------------------


def test_backoff_doubles_from_one_second_to_a_five_minute_cap() -> None:
    backoff = Backoff(rng=lambda: 0.0)
    delays = [backoff.next_delay() for _ in range(12)]
    assert delays == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]


def test_backoff_jitter_only_shortens_and_never_passes_the_cap() -> None:
    backoff = Backoff(rng=random.Random(7).random)
    raw = [min(300, 2**n) for n in range(200)]
    delays = [backoff.next_delay() for _ in range(200)]
    assert all(0.8 * r <= d <= r for d, r in zip(delays, raw, strict=True))
    assert max(delays) <= 300
    assert len({round(d, 6) for d in delays[20:]}) > 1  # jittered, not all equal at the cap


def test_backoff_reset_starts_again_at_one_second() -> None:
    backoff = Backoff(rng=lambda: 0.0)
    for _ in range(5):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() == 1


def test_russian_plural_of_notifications() -> None:
    words = {n: notifications_word(n) for n in (1, 2, 4, 5, 11, 12, 14, 21, 22, 25, 101, 111)}
    assert words == {
        1: "уведомление",
        2: "уведомления",
        4: "уведомления",
        5: "уведомлений",
        11: "уведомлений",
        12: "уведомлений",
        14: "уведомлений",
        21: "уведомление",
        22: "уведомления",
        25: "уведомлений",
        101: "уведомление",
        111: "уведомлений",
    }


# --- cursor file -----------------------------------------------------------------------------------------------------


def test_cursor_survives_a_restart(tmp_path: Path) -> None:
    CursorStore(tmp_path, "https://crm", "ivanov").save(CursorState("v1.abc", [5, 6]))
    restarted = CursorStore(tmp_path, "https://crm", "ivanov").load()
    assert restarted == CursorState("v1.abc", [5, 6])


def test_cursor_of_another_server_or_login_is_not_used(tmp_path: Path) -> None:
    CursorStore(tmp_path, "https://crm", "ivanov").save(CursorState("v1.abc"))
    assert CursorStore(tmp_path, "https://crm", "petrova").load() == CursorState()
    assert CursorStore(tmp_path, "https://other", "ivanov").load() == CursorState()


def test_broken_cursor_file_means_start_from_now(tmp_path: Path) -> None:
    (tmp_path / config.CURSOR_FILE).write_text('{"server": "https://crm", "cur', encoding="utf-8")
    assert CursorStore(tmp_path, "https://crm", "ivanov").load() == CursorState()


def test_cursor_is_written_through_a_temp_file_and_os_replace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = CursorStore(tmp_path, "https://crm", "ivanov")
    replaced: list[tuple[str, str]] = []
    real_replace = os.replace

    def spy(src: str, dst: str) -> None:
        replaced.append((str(src), str(dst)))
        assert Path(dst).read_text() if Path(dst).exists() else True  # old content still whole here
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    store.save(CursorState("v1.one"))
    assert len(replaced) == 1
    src, dst = replaced[0]
    assert Path(src).parent == tmp_path and Path(src).name != config.CURSOR_FILE
    assert dst == str(tmp_path / config.CURSOR_FILE)


@pytest.mark.parametrize("broken", ["fsync", "replace"])
def test_a_crash_while_writing_keeps_the_previous_cursor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, broken: str
) -> None:
    store = CursorStore(tmp_path, "https://crm", "ivanov")
    store.save(CursorState("v1.old", [1]))

    def crash(*_args: object) -> None:
        raise OSError("disk pulled out")

    monkeypatch.setattr(os, broken, crash)
    with pytest.raises(OSError):
        store.save(CursorState("v1.new", [1, 2]))
    monkeypatch.undo()
    assert store.load() == CursorState("v1.old", [1])
    assert sorted(p.name for p in tmp_path.iterdir()) == [config.CURSOR_FILE]  # no temp file left behind


# --- pop-up text -----------------------------------------------------------------------------------------------------


def test_truncate_keeps_short_text_and_cuts_long_text_with_an_ellipsis() -> None:
    assert truncate("Коротко", TITLE_LIMIT) == "Коротко"
    exact = "я" * TITLE_LIMIT
    assert truncate(exact, TITLE_LIMIT) == exact
    cut = truncate("я" * 500, MESSAGE_LIMIT)
    assert len(cut) == MESSAGE_LIMIT and cut.endswith(ELLIPSIS)


def test_truncate_counts_utf16_units_and_never_splits_an_emoji() -> None:
    cut = truncate("😀" * 100, TITLE_LIMIT)  # each emoji is two UTF-16 units in the Windows balloon
    assert len(cut.encode("utf-16-le")) // 2 <= TITLE_LIMIT
    assert cut == "😀" * 31 + ELLIPSIS


def test_clean_text_drops_control_characters() -> None:
    assert clean_text("Запрос\x00\x1b[31m 42\r\n\tготов\u2028", multiline=True) == "Запрос [31m 42\nготов"
    assert clean_text("a\nb", multiline=False) == "a b"


def _event(**fields: object) -> Event:
    base: dict[str, object] = {
        "id": 1,
        "kind": "request_created",
        "title": "Новый запрос 2026-0042",
        "message": "Текст",
    }
    base.update(fields)
    return Event(**base)  # type: ignore[arg-type]


def test_popup_title_and_message_fit_the_windows_balloon() -> None:
    recorder = Recorder()
    notifier = Notifier(recorder)
    assert notifier.show_event(_event(title="Т" * 100, message="С" * 1000))
    shown = recorder.calls[0]
    assert len(shown["title"]) == TITLE_LIMIT and shown["title"].endswith(ELLIPSIS)
    assert len(shown["message"]) == MESSAGE_LIMIT and shown["message"].endswith(ELLIPSIS)
    assert shown["app_name"] == "ZapTrade CRM"


def test_popup_title_falls_back_to_the_kind_in_russian() -> None:
    title, message = Notifier(Recorder()).format_event(_event(kind="reminder", title="", message="Позвонить"))
    assert (title, message) == ("Напоминание", "Позвонить")


def test_late_event_shows_when_it_happened() -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    notifier = Notifier(Recorder(), now=lambda: now)
    _, fresh = notifier.format_event(_event(created_on=now - timedelta(minutes=1)))
    _, late = notifier.format_event(_event(created_on=now - timedelta(hours=3), message="М" * 400))
    assert fresh == "Текст"
    when = (now - timedelta(hours=3)).astimezone().strftime("%d.%m.%Y %H:%M")
    assert late.endswith(f"\n({when})") and len(late) <= MESSAGE_LIMIT


def test_leading_dash_cannot_become_a_notify_send_option() -> None:
    recorder = Recorder()
    Notifier(recorder).show("--help", "-u critical")
    assert not recorder.calls[0]["title"].startswith("-")
    assert not recorder.calls[0]["message"].startswith("-")


def test_failed_popup_is_logged_and_the_event_still_logged(caplog: pytest.LogCaptureFixture) -> None:
    def broken(**_kwargs: object) -> None:
        raise NotImplementedError("No usable implementation found!")

    caplog.set_level(logging.INFO, logger="agent")
    assert Notifier(broken).show_event(_event(id=17)) is False
    assert "event 17 [request_created] Новый запрос 2026-0042 — Текст" in caplog.text
    assert "pop-up for event 17 FAILED: NotImplementedError" in caplog.text


def test_silent_backend_problem_is_said_once_with_the_remedy(caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder()
    caplog.set_level(logging.INFO, logger="agent")
    notifier = Notifier(recorder, problem=diagnose_backend("NotifySendNotification", {}, {}.get, "linux"))
    assert notifier.show("Заголовок", "Текст") is False
    assert notifier.show("Заголовок", "Текст", what="event 2") is False
    assert len(recorder.calls) == 2  # plyer was still asked
    assert caplog.text.count(NO_SERVICE_TEXT) == 1  # at start-up; each pop-up only points to it
    assert "pop-up for event 2 probably not shown" in caplog.text


NO_SERVICE_TEXT = (
    "Не удаётся показать уведомление: не найдена служба уведомлений (Агент запущен вне сеанса рабочего стола). "
    "Установите libnotify-bin (notify-send) и dunst или запустите Агент в сеансе рабочего стола."
)


def test_diagnose_plyer_backends_in_russian_with_what_to_install() -> None:
    no_files: dict[str, bool] = {}
    session = {"DBUS_SESSION_BUS_ADDRESS": "unix:path=/run/user/1000/bus"}
    assert diagnose_backend("NotifySendNotification", session, no_files.get) is None
    assert diagnose_backend("NotifyDbus", {"XDG_RUNTIME_DIR": "/run/user/1"}, {"/run/user/1/bus": True}.get) is None
    assert diagnose_backend("NotifySendNotification", {}, no_files.get) == NO_SERVICE_TEXT
    assert diagnose_backend("NotifyDesktopPortals", session, no_files.get) == (
        "Не удаётся показать уведомление: в системе есть папка /app, и plyer принял её за песочницу Flatpak — "
        "уведомления уходят в никуда. Переименуйте папку /app, если она не нужна, и перезапустите Агент."
    )
    assert diagnose_backend("NotifyDesktopPortals", {**session, "FLATPAK_ID": "ru.zaptrade"}, no_files.get) is None
    assert diagnose_backend("Notification", {}, no_files.get, "linux") == (
        "Не удаётся показать уведомление: не найдена программа notify-send. Установите libnotify-bin "
        "(notify-send) и dunst (sudo apt install libnotify-bin dunst) или запустите Агент в сеансе рабочего стола."
    )
    assert diagnose_backend("Notification", {}, no_files.get, "darwin") == (
        "Не удаётся показать уведомление: на macOS нужен модуль pyobjus (pip install pyobjus)."
    )
    assert diagnose_backend("WindowsNotification", {}, no_files.get) is None


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_real_plyer_on_this_machine_is_diagnosed_not_trusted(caplog: pytest.LogCaptureFixture) -> None:
    """Headless test machine: plyer has no working backend here, and the Notifier must say so, not claim success."""
    caplog.set_level(logging.INFO, logger="agent")
    notifier = Notifier()
    ok = notifier.show("Проверка", "Текст")
    if notifier.problem is None and ok:
        pytest.skip(f"this machine has a working pop-up backend ({notifier.backend_name})")
    assert ok is False
    assert "pop-up for message" in caplog.text


# --- paths and config ----------------------------------------------------------------------------------------------


def test_agent_home_per_platform() -> None:
    assert config.agent_home_path("linux", "/home/ivan", {}) == PurePosixPath("/home/ivan/.config/zaptrade-agent")
    assert config.agent_home_path("linux", "/home/ivan", {"XDG_CONFIG_HOME": "/x/cfg"}) == PurePosixPath(
        "/x/cfg/zaptrade-agent"
    )
    assert config.agent_home_path("windows", r"C:\Users\Иван", {"APPDATA": r"C:\Users\Иван\AppData\Roaming"}) == (
        PureWindowsPath(r"C:\Users\Иван\AppData\Roaming\ZapTrade Agent")
    )
    assert config.agent_home_path("macos", "/Users/ivan", {}) == PurePosixPath(
        "/Users/ivan/Library/Application Support/ZapTrade Agent"
    )
    assert config.agent_home_path("linux", "/home/ivan", {"ZAPTRADE_AGENT_HOME": "/tmp/a"}) == PurePosixPath("/tmp/a")


def test_current_platform_names() -> None:
    assert config.current_platform("win32") == "windows"
    assert config.current_platform("darwin") == "macos"
    assert config.current_platform("linux") == "linux"


def test_config_round_trip_and_server_address_normalised(tmp_path: Path) -> None:
    config.save_config(tmp_path, config.Config("https://crm.example.ru", "ivanov", 45))
    assert config.load_config(tmp_path) == config.Config("https://crm.example.ru", "ivanov", 45)
    assert config.normalize_server_url(" crm.example.ru/ ") == "https://crm.example.ru"
    with pytest.raises(ValueError):
        config.normalize_server_url("ftp://crm")
    (tmp_path / config.CONFIG_FILE).write_text(json.dumps({"server": "x"}), encoding="utf-8")
    with pytest.raises(config.ConfigError):
        config.load_config(tmp_path)


def test_poll_interval_is_clamped() -> None:
    assert config.clamp_poll_seconds(0) == config.MIN_POLL_SECONDS
    assert config.clamp_poll_seconds(10**9) == config.MAX_POLL_SECONDS
    assert config.clamp_poll_seconds("junk") == config.DEFAULT_POLL_SECONDS


# --- keyring ---------------------------------------------------------------------------------------------------------


class PlaintextKeyring(KeyringBackend):
    """Looks like keyrings.alt's plain-text file keyring."""

    priority = 1  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        raise AssertionError("a plain-text keyring must never receive the password")

    def delete_password(self, service: str, username: str) -> None:
        pass


def _chain(*members: KeyringBackend) -> chainer.ChainerBackend:
    class Chain(chainer.ChainerBackend):
        backends = list(members)  # type: ignore[assignment]

    return Chain()


@pytest.mark.parametrize(
    "backend",
    [fail.Keyring(), null.Keyring(), PlaintextKeyring(), _chain(PlaintextKeyring(), fail.Keyring()), _chain()],
    ids=["fail", "null", "plaintext", "insecure-chain", "empty-chain"],
)
def test_password_is_refused_without_a_secure_keyring(backend: KeyringBackend) -> None:
    keyring.set_keyring(backend)
    with pytest.raises(config.InsecureKeyringError):
        config.store_password("ivanov", "secret")


def test_from_a_chain_the_password_goes_to_the_secure_member() -> None:
    memory = MemoryKeyring()
    keyring.set_keyring(_chain(PlaintextKeyring(), memory))  # the chain alone would write to the plain-text one
    config.store_password("ivanov", "secret")
    assert memory.passwords == {("zaptrade-agent", "ivanov"): "secret"}


def test_password_goes_to_the_keyring() -> None:
    config.store_password("ivanov", "secret")
    assert config.read_password("ivanov") == "secret"
    assert keyring.get_password("zaptrade-agent", "ivanov") == "secret"
    config.forget_password("ivanov")
    assert config.read_password("ivanov") is None


# --- the Agent stands alone ----------------------------------------------------------------------------------------

SERVER_MODULES = ("app", "config", "run", "worker")  # the CRM's own top-level modules


def _imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """Every absolute module an ``import``, ``from … import`` or ``importlib.import_module("…")`` names."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                found.append((node.lineno, node.args[0].value))
    return found


def test_nothing_under_agent_imports_the_crm_server() -> None:
    """The Agent runs on the manager's computer from one downloaded file: app/ is not there."""
    agent_dir = Path(config.__file__).parent
    files = sorted(agent_dir.rglob("*.py"))
    assert len(files) >= 10  # the walk found the package
    offending = [
        f"{path.relative_to(agent_dir.parent)}:{line}: {module}"
        for path in files
        for line, module in _imported_modules(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        if module.split(".")[0] in SERVER_MODULES
    ]
    assert offending == []


def test_the_import_guard_sees_every_form_of_import() -> None:
    source = "import app.models\nfrom app import access\nimport importlib\nimportlib.import_module('app.auth')\n"
    assert [name for _line, name in _imported_modules(ast.parse(source))] == [
        "app.models",
        "app",
        "importlib",
        "app.auth",
    ]
