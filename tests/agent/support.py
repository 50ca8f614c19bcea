"""Helpers shared by the Agent tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


class Recorder:
    """Stands in for plyer.notification.notify only: records what would have been shown."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def __call__(self, **kwargs: Any) -> None:
        with self.lock:
            self.calls.append(kwargs)

    @property
    def titles(self) -> list[str]:
        with self.lock:
            return [call["title"] for call in self.calls]

    @property
    def messages(self) -> list[str]:
        with self.lock:
            return [call["message"] for call in self.calls]


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


# The programs a real pop-up needs, and a shell prelude (run under dbus-run-session) that starts a
# virtual screen on :$DISPLAY_NO and the dunst notification daemon, and waits until both answer.
DESKTOP_TOOLS = ("dbus-run-session", "Xvfb", "dunst", "dunstctl", "notify-send", "gdbus")
DESKTOP_SESSION = r"""
set -e
Xvfb :$DISPLAY_NO -screen 0 800x600x24 -nolisten tcp >/dev/null 2>&1 & XPID=$!
trap 'kill $DPID $XPID 2>/dev/null || true' EXIT
for i in $(seq 100); do [ -e /tmp/.X11-unix/X$DISPLAY_NO ] && break; sleep 0.05; done
export DISPLAY=:$DISPLAY_NO
dunst >/dev/null 2>&1 & DPID=$!
for i in $(seq 100); do
  gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
    --method org.freedesktop.DBus.NameHasOwner org.freedesktop.Notifications | grep -q true && break
  sleep 0.05
done
"""
