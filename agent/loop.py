"""The poll loop: fetch the feed page by page, show each event once, remember how far we got.

Exactly-once across restarts: the cursor file holds the cursor a page was fetched with plus the ids of the
events of that page already shown, rewritten atomically after every pop-up; once the page is done it holds the
page's new cursor. A crash at any point therefore neither repeats nor skips an event.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from agent.client import (
    AuthSession,
    BadCursor,
    Client,
    DeviceRevoked,
    Event,
    Page,
    PasswordChanged,
    PasswordMissing,
    ServerUnavailable,
    TokenSession,
)
from agent.config import CURSOR_FILE, KeyringUnavailable, atomic_write_text, clamp_poll_seconds
from agent.notifier import Notifier

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_NEEDS_SETUP = 0, 1, 2

PASSWORD_CHANGED_TITLE = "ZapTrade CRM: пароль изменён"
PASSWORD_CHANGED_TEXT = (
    "Сервер не принял сохранённый пароль: его изменили или учётную запись отключили. "
    "Агент остановлен. Запустите настройку заново: python -m agent setup"
)
PASSWORD_MISSING_TITLE = "ZapTrade CRM: агент не подключён"
PASSWORD_MISSING_TEXT = "Ключ доступа Агента не найден. Запустите Агент и войдите снова в его окне."
BACKLOG_TITLE = "ZapTrade CRM: ещё уведомления"
REVOKED_TITLE = "Агент отключён — войдите снова"
REVOKED_TEXT = (
    "Сервер больше не принимает ключ этого компьютера: Агент отключили на странице «Агент», "
    "сменили пароль или отключили учётную запись. Войдите снова в окне Агента."
)
OUTDATED_TITLE = "Доступна новая версия Агента"
OUTDATED_TEXT = "Версия {latest} (у вас {current}). Скачайте её на странице «Агент» в CRM: {url}"
NOTICES_FILE = "notices.json"


def notifications_word(count: int) -> str:
    """Russian plural: 1 уведомление, 3 уведомления, 7 уведомлений (11–14 take the last form)."""
    if count % 10 == 1 and count % 100 != 11:
        return "уведомление"
    if 2 <= count % 10 <= 4 and not 12 <= count % 100 <= 14:
        return "уведомления"
    return "уведомлений"


class Backoff:
    """Exponential delays: base, 2·base, 4·base … up to ``cap``, each shortened by a random share up to ``jitter``.

    Jitter only ever shortens a delay, so the cap holds, and many agents coming back after a server outage do not
    all knock at the same second.
    """

    def __init__(
        self, base: float = 1.0, cap: float = 300.0, jitter: float = 0.2, rng: Callable[[], float] = random.random
    ) -> None:
        self.base, self.cap, self.jitter, self._rng = base, cap, jitter, rng
        self.attempt = 0

    def next_delay(self) -> float:
        raw = min(self.cap, self.base * 2 ** min(self.attempt, 64))
        self.attempt += 1
        return raw * (1.0 - self.jitter * self._rng())

    def reset(self) -> None:
        self.attempt = 0


@dataclass
class CursorState:
    """Where the feed is read from, and which events of the page fetched from there are already shown."""

    cursor: str | None = None
    shown: list[int] = field(default_factory=list)


class CursorStore:
    """The cursor file in the agent home, tied to one server and login (another account starts afresh)."""

    def __init__(self, home: Path, server: str, username: str) -> None:
        self.path = home / CURSOR_FILE
        self.server, self.username = server, username

    def load(self) -> CursorState:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return CursorState()
        except (OSError, ValueError) as exc:
            log.error("cursor file %s unreadable (%s): starting from now", self.path, exc)
            return CursorState()
        if not isinstance(data, dict) or data.get("server") != self.server or data.get("username") != self.username:
            log.info("cursor file belongs to another server or login: starting from now")
            return CursorState()
        cursor = data.get("cursor")
        shown = data.get("shown")
        return CursorState(
            cursor=cursor if isinstance(cursor, str) else None,
            shown=[item for item in shown if isinstance(item, int)] if isinstance(shown, list) else [],
        )

    def save(self, state: CursorState) -> None:
        payload = {"server": self.server, "username": self.username, "cursor": state.cursor, "shown": state.shown}
        atomic_write_text(self.path, json.dumps(payload, ensure_ascii=False) + "\n")


class Agent:
    """Polls, shows, persists. ``stop`` (a threading.Event) ends the loop between two steps."""

    def __init__(
        self,
        session: TokenSession | AuthSession,
        notifier: Notifier,
        store: CursorStore,
        *,
        poll_seconds: float = 30,
        backoff: Backoff | None = None,
        stop: threading.Event | None = None,
        max_popups_per_cycle: int = 20,
        settings_every: float | None = 600.0,
        clock: Callable[[], float] = time.monotonic,
        on_revoked: Callable[[], None] | None = None,
    ) -> None:
        self.session = session
        self.client: Client = session.client
        self.notifier = notifier
        self.store = store
        self.poll_seconds = poll_seconds
        self.backoff = backoff or Backoff()
        self.stop = stop or threading.Event()
        self.max_popups_per_cycle = max_popups_per_cycle
        self.settings_every = settings_every
        self._clock = clock
        self.on_revoked = on_revoked
        self._failures = 0
        self._streak_started = 0.0
        self._settings_checked: float | None = None
        self.delivered: list[int] = []  # ids handed to the notifier by this process, in order (for tests and stats)

    # -- one cycle --

    def poll_cycle(self) -> int:
        """Read the feed until a page is not full; show every new event. Returns how many events were new."""
        state = self.store.load()
        popups = held_back = total = 0
        reset_done = False
        while not self.stop.is_set():
            cursor = state.cursor
            try:
                page = self.session.call(lambda token, after=cursor: self.client.events(token, after))
            except BadCursor as exc:
                if cursor is None or reset_done:
                    raise ServerUnavailable(f"the server rejects even a fresh start: {exc}") from exc
                log.error(
                    "server rejected the cursor (%s): starting again from now; events in between are skipped", exc
                )
                state = CursorState()
                self.store.save(state)
                reset_done = True
                continue
            if page.outdated:
                self._tell_outdated(page)
            for event in page.events:
                if event.id in state.shown:
                    continue  # shown before a crash or restart, the page came again
                try:
                    if popups < self.max_popups_per_cycle:
                        self.notifier.show_event(event)
                        popups += 1
                    else:
                        self._hold_back(event)
                        held_back += 1
                except Exception:  # a bad event must not block the feed for good
                    log.exception("event %s could not be shown", event.id)
                self.delivered.append(event.id)
                total += 1
                state.shown.append(event.id)
                self.store.save(state)
            state = CursorState(cursor=page.cursor)
            self.store.save(state)
            if not page.full:
                break
        if held_back:
            self.notifier.show(
                BACKLOG_TITLE,
                f"Пока агент был недоступен, накопилось ещё {held_back} {notifications_word(held_back)}. "
                "Они записаны в журнал агента; подробности в CRM.",
                what="backlog summary",
            )
        return total

    def _tell_outdated(self, page: Page) -> None:
        """One pop-up per newer version the server offers (remembered across restarts in notices.json)."""
        path = self.store.path.parent / NOTICES_FILE
        try:
            told = json.loads(path.read_text(encoding="utf-8")).get("outdated_told")
        except (OSError, ValueError, AttributeError):
            told = None
        if told == page.latest_version:
            return
        from agent import __version__

        log.warning("this Agent (%s) is outdated: the server offers %s", __version__, page.latest_version)
        self.notifier.show(
            OUTDATED_TITLE,
            OUTDATED_TEXT.format(latest=page.latest_version, current=__version__, url=page.download),
            what="outdated version",
        )
        with contextlib.suppress(OSError):
            atomic_write_text(path, json.dumps({"outdated_told": page.latest_version}) + "\n")

    def _hold_back(self, event: Event) -> None:
        """Past the per-cycle limit a catch-up would flood the screen: log the event, count it for one summary."""
        title, message = self.notifier.format_event(event)
        log.info("event %s [%s] %s — %s (not shown: catch-up limit)", event.id, event.kind, title, message)

    # -- the loop --

    def _refresh_settings(self) -> None:
        """Pick up a poll interval changed with ``settings`` (or in the CRM) without a restart."""
        now = self._clock()
        if self.settings_every is None:
            return
        if self._settings_checked is not None and now - self._settings_checked < self.settings_every:
            return
        self._settings_checked = now
        try:
            settings = self.session.call(self.client.get_settings)
        except ServerUnavailable as exc:
            log.debug("settings not refreshed: %s", exc)
            return
        interval = clamp_poll_seconds(settings.poll_seconds)
        if interval != self.poll_seconds:
            log.info("poll interval is now %s s (server setting)", interval)
            self.poll_seconds = interval

    def _failed(self, exc: Exception) -> None:
        if self._failures == 0:
            self._streak_started = self._clock()
            log.warning("server unavailable: %s; retrying with backoff (further failures logged at DEBUG)", exc)
        else:
            log.debug("still unavailable (%d): %s", self._failures + 1, exc)
        self._failures += 1

    def _succeeded(self) -> None:
        if self._failures:
            log.info(
                "server reachable again after %d failed attempts (%.0f s); caught up",
                self._failures,
                self._clock() - self._streak_started,
            )
        self._failures = 0
        self.backoff.reset()

    def run(self, once: bool = False) -> int:
        """Poll until stopped. Returns the process exit code (2 = the user must run setup again)."""
        while not self.stop.is_set():
            try:
                count = self.poll_cycle()
                self._refresh_settings()
            except DeviceRevoked as exc:
                log.error("%s: stopping; the user must log in again", exc)
                self.notifier.show(REVOKED_TITLE, REVOKED_TEXT, what="device revoked")
                if self.on_revoked is not None:
                    self.on_revoked()
                return EXIT_NEEDS_SETUP
            except PasswordChanged as exc:
                log.error("%s: stopping; the user must run setup again", exc)
                self.notifier.show(PASSWORD_CHANGED_TITLE, PASSWORD_CHANGED_TEXT, what="password changed")
                return EXIT_NEEDS_SETUP
            except PasswordMissing as exc:
                log.error("%s: stopping; the user must run setup", exc)
                self.notifier.show(PASSWORD_MISSING_TITLE, PASSWORD_MISSING_TEXT, what="password missing")
                return EXIT_NEEDS_SETUP
            except (ServerUnavailable, KeyringUnavailable) as exc:
                self._failed(exc)
                if once:
                    return EXIT_FAILED
                self.stop.wait(self.backoff.next_delay())
                continue
            self._succeeded()
            if count:
                log.debug("cycle done: %d new events", count)
            if once:
                return EXIT_OK
            # Event.wait counts monotonic time: after a laptop sleep this is simply the next poll.
            self.stop.wait(self.poll_seconds)
        return EXIT_OK


class InstanceLock:
    """One Agent per user and home: two running agents would show every pop-up twice."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = None

    def acquire(self) -> bool:
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held open for the whole run
        try:
            if os.name == "nt":
                import msvcrt

                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        with contextlib.suppress(OSError):
            handle.truncate(0)
            handle.write(f"{os.getpid()}\n")
            handle.flush()
        self._handle = handle
        return True

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
