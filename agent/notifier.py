"""Native pop-ups through plyer, with the failures plyer hides made visible in the log.

plyer raises when it has no backend at all (macOS without pyobjus, Linux without notify-send), but on Linux it
returns quietly when notify-send has no session bus, and it picks the Flatpak portal whenever ``/app`` exists;
on Windows the balloon is drawn in a background thread whose errors never reach the caller. So the Notifier
checks the chosen backend and its environment once, logs every pop-up it believes was not shown, and still
records the event in the log (the loop must not spin on an event it cannot display).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import unicodedata
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from agent import APP_NAME
from agent.client import Event

log = logging.getLogger(__name__)

# Windows balloon (NOTIFYICONDATAW): szInfoTitle[64], szInfo[256] UTF-16 units including the final NUL.
TITLE_LIMIT = 63
MESSAGE_LIMIT = 255
ELLIPSIS = "…"
POPUP_SECONDS = 15
LATE_AFTER = timedelta(minutes=15)

KIND_TITLES = {
    "request_created": "Новый запрос",
    "request_status": "Статус запроса изменён",
    "delivery_status": "Статус поставки изменён",
    "request_comment": "Новый комментарий к запросу",
    "reminder": "Напоминание",
}

NotifyFunc = Callable[..., Any]


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def clean_text(text: str, *, multiline: bool) -> str:
    """Drop control and format characters a server text may carry; keep line breaks in a message only."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    kept = []
    for char in text:
        if char == "\n":
            kept.append("\n" if multiline else " ")
        elif unicodedata.category(char) in ("Cc", "Cs") or char in "\u2028\u2029":
            kept.append(" ")
        else:
            kept.append(char)
    lines = [" ".join(line.split()) for line in "".join(kept).split("\n")]
    return "\n".join(line for line in lines if line).strip()


def truncate(text: str, limit: int) -> str:
    """Cut to ``limit`` UTF-16 units (what the Windows balloon counts), ending with "…", never splitting a pair."""
    if _utf16_len(text) <= limit:
        return text
    budget = limit - _utf16_len(ELLIPSIS)
    out: list[str] = []
    used = 0
    for char in text:
        size = 2 if ord(char) > 0xFFFF else 1
        if used + size > budget:
            break
        out.append(char)
        used += size
    return "".join(out).rstrip() + ELLIPSIS


def _guard_leading_dash(text: str) -> str:
    """notify-send reads a title or message starting with "-" as an option: put a zero-width space first."""
    return "\u200b" + text if text.startswith("-") else text


CANNOT_SHOW = "Не удаётся показать уведомление: "
INSTALL_SERVICE = "Установите libnotify-bin (notify-send) и dunst{how} или запустите Агент в сеансе рабочего стола."


def diagnose_backend(
    backend_name: str,
    environ: Mapping[str, str] | None = None,
    exists: Callable[[str], bool] = os.path.exists,
    platform: str | None = None,
) -> str | None:
    """Why pop-ups from this plyer backend will not be seen and what to install, in Russian (the manager reads
    it in the window and in the log); None when nothing is known to be wrong."""
    environ = os.environ if environ is None else environ
    platform = platform or sys.platform
    if backend_name == "Notification":  # plyer's facade itself: no backend for this system
        if platform == "darwin":
            return CANNOT_SHOW + "на macOS нужен модуль pyobjus (pip install pyobjus)."
        return (
            CANNOT_SHOW
            + "не найдена программа notify-send. "
            + INSTALL_SERVICE.format(how=" (sudo apt install libnotify-bin dunst)")
        )
    linux_backends = ("NotifySendNotification", "NotifyDbus", "NotifyDesktopPortals")
    if backend_name == "NotifyDesktopPortals" and not (environ.get("FLATPAK_ID") or exists("/.flatpak-info")):
        return (
            CANNOT_SHOW + "в системе есть папка /app, и plyer принял её за песочницу Flatpak — уведомления уходят "
            "в никуда. Переименуйте папку /app, если она не нужна, и перезапустите Агент."
        )
    if backend_name in linux_backends:
        runtime_dir = environ.get("XDG_RUNTIME_DIR", "")
        has_bus = bool(environ.get("DBUS_SESSION_BUS_ADDRESS")) or (
            bool(runtime_dir) and exists(os.path.join(runtime_dir, "bus"))
        )
        if not has_bus:
            # no session bus: plyer's notify-send fails silently outside the user's desktop session
            return (
                CANNOT_SHOW
                + "не найдена служба уведомлений (Агент запущен вне сеанса рабочего стола). "
                + INSTALL_SERVICE.format(how="")
            )
    return None


class Notifier:
    """Shows events as pop-ups. ``notify`` is plyer's function by default; tests inject a recorder instead.

    One per process (the run loop and the window share it), so a known problem is written to the log once.
    """

    def __init__(
        self,
        notify: NotifyFunc | None = None,
        *,
        problem: str | None = None,
        app_name: str = APP_NAME,
        timeout: int = POPUP_SECONDS,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.app_name = app_name
        self.timeout = timeout
        self._now = now
        self.backend_name = "injected"
        if notify is None:
            notify, self.backend_name = _plyer_notify()
            problem = problem or diagnose_backend(self.backend_name)
            _log_background_thread_errors()
            log.info("pop-ups through plyer backend %s", self.backend_name)
        self._notify = notify
        self.problem = problem
        if problem:
            log.error("%s", problem)  # the remedy, once: each pop-up below only points back to it

    def format_event(self, event: Event) -> tuple[str, str]:
        """Title and message as they will be shown, within the balloon limits."""
        title = clean_text(event.title, multiline=False) or KIND_TITLES.get(event.kind, self.app_name)
        message = clean_text(event.message, multiline=True) or clean_text(event.url, multiline=False)
        suffix = ""
        if event.created_on is not None:
            created = event.created_on if event.created_on.tzinfo else event.created_on.replace(tzinfo=UTC)
            if self._now() - created > LATE_AFTER:
                suffix = "\n(" + created.astimezone().strftime("%d.%m.%Y %H:%M") + ")"
        message = truncate(message, MESSAGE_LIMIT - _utf16_len(suffix)) + suffix
        return truncate(title, TITLE_LIMIT), message.strip()

    def show_event(self, event: Event) -> bool:
        """Show one event; the event is logged either way, so a failed pop-up still leaves a trace."""
        title, message = self.format_event(event)
        log.info("event %s [%s] %s — %s", event.id, event.kind, title, message.replace("\n", " "))
        return self.show(title, message, what=f"event {event.id}")

    def show(self, title: str, message: str, what: str = "message") -> bool:
        """Show a pop-up; False (and an ERROR in the log) when it failed or surely went nowhere."""
        title = truncate(_guard_leading_dash(clean_text(title, multiline=False) or self.app_name), TITLE_LIMIT)
        message = truncate(_guard_leading_dash(clean_text(message, multiline=True)), MESSAGE_LIMIT) or " "
        if self.backend_name == "NotifyDesktopPortals":
            # plyer pastes the text into a GVariant literal between single quotes
            title, message = title.replace("'", "’"), message.replace("'", "’")
        try:
            self._notify(title=title, message=message, app_name=self.app_name, timeout=self.timeout)
        except Exception as exc:
            log.error("pop-up for %s FAILED: %s: %s", what, type(exc).__name__, exc)
            return False
        if self.problem:
            log.warning("pop-up for %s probably not shown (no notification service: see above)", what)
            return False
        return True


def _plyer_notify() -> tuple[NotifyFunc, str]:
    """plyer's notify and the name of the backend class it picked for this system."""
    from plyer import notification

    notify = notification.notify
    backend = getattr(notify, "__self__", None)
    name = type(backend).__name__ if backend is not None else "unknown"
    if name == "NotifySendNotification":
        # plyer's notify-send backend ignores ``timeout`` and passes expire_time "0": the pop-up would never
        # expire. Its _notify reads ``expire_time`` (milliseconds), which the public facade cannot pass.
        def notify_send(title: str, message: str, app_name: str, timeout: int) -> None:
            backend._notify(title=title, message=message, app_name=app_name, expire_time=str(int(timeout * 1000)))

        return notify_send, name
    return notify, name


_hook_lock = threading.Lock()
_hook_installed = False


def _log_background_thread_errors() -> None:
    """plyer draws the Windows balloon in a thread: route that thread's exceptions to our log."""
    global _hook_installed
    with _hook_lock:
        if _hook_installed:
            return
        previous = threading.excepthook

        def hook(args: threading.ExceptHookArgs) -> None:
            thread_name = args.thread.name if args.thread else "?"
            log.error(
                "pop-up failed in a background thread (%s): %s: %s", thread_name, args.exc_type.__name__, args.exc_value
            )
            previous(args)

        threading.excepthook = hook
        _hook_installed = True
