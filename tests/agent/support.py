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
