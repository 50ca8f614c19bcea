"""The first-run window: server (prefilled), login, password, «Запускать при входе в систему», «Проверить».

``SetupForm`` holds the logic and is tested without a display; ``SetupWindow`` only binds tkinter widgets to
it. tkinter ships with Python on Windows and with most Linux desktops; without it (or without a display) the
terminal prompts of ``setup`` remain.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from agent.config import normalize_server_url
from agent.connecting import Connected, ConnectFailed, connect_device
from agent.notifier import Notifier

log = logging.getLogger(__name__)

TITLE = "Агент ZapTrade CRM"
TEST_TITLE = "ZapTrade CRM: проверка"
TEST_TEXT = "Так будут выглядеть уведомления о запросах и напоминаниях."
INTRO = (
    "Агент показывает уведомления CRM в углу экрана, даже когда браузер закрыт. "
    "Введите логин и пароль один раз: пароль не сохраняется, компьютер получает свой ключ доступа."
)

Connector = Callable[..., Connected]


def display_available(environ: dict[str, str] | None = None, platform: str | None = None) -> bool:
    """Can a window be shown here? Windows and macOS: yes if tkinter imports; Linux: a display is needed too."""
    environ = dict(os.environ) if environ is None else environ
    platform = platform or sys.platform
    if not platform.startswith(("win", "darwin")) and not (environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        import tkinter  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class SetupForm:
    """What the window shows and does, without widgets."""

    home: Path
    server: str = ""
    username: str = ""
    password: str = ""
    autostart: bool = True
    status: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    connected: Connected | None = None
    popup_problem: str | None = None

    def validate(self) -> bool:
        """Russian messages per field; the password is kept only in memory."""
        self.errors = {}
        try:
            self.server = normalize_server_url(self.server)
        except ValueError:
            self.errors["server"] = "Нужен адрес вида https://crm.example.ru"
        self.username = self.username.strip()
        if not self.username:
            self.errors["username"] = "Введите логин."
        if not self.password:
            self.errors["password"] = "Введите пароль."
        if self.errors:
            self.status = " ".join(self.errors.values())
        return not self.errors

    def submit(self, connector: Connector = connect_device) -> bool:
        """Connect this computer; on success the password is dropped from memory too."""
        if not self.validate():
            return False
        try:
            self.connected = connector(
                self.home, self.server, self.username, self.password, install_autostart=self.autostart
            )
        except ConnectFailed as exc:
            self.status = str(exc)
            return False
        finally:
            self.password = ""
        lines = [f"Готово: Агент подключён к {self.server} для {self.username}.", self.connected.message]
        if self.connected.autostart_path is not None:
            lines.append("Агент будет запускаться при входе в систему.")
        if self.server.startswith("http://") and not self.server.startswith(("http://127.0.0.1", "http://localhost")):
            lines.append("Внимание: адрес без https — данные передаются незашифрованными.")
        self.status = "\n".join(lines)
        return True

    def note_popup_problem(self, notifier: Notifier) -> None:
        """As the window opens: when plyer cannot show pop-ups here, the status line says what to install."""
        self.popup_problem = notifier.problem
        if notifier.problem:
            self.status = notifier.problem

    def test_popup(self, notifier: Notifier) -> bool:
        """«Проверить»: one test pop-up; when plyer cannot show one, say why and what to install."""
        shown = notifier.show(TEST_TITLE, TEST_TEXT, what="test pop-up")
        self.popup_problem = notifier.problem
        if notifier.problem:
            self.status = notifier.problem
        elif shown:
            self.status = "Проверочное уведомление отправлено: оно должно появиться в углу экрана."
        else:
            self.status = "Не удалось показать уведомление; подробности в журнале агента (agent.log)."
        return shown and not notifier.problem


class SetupWindow:
    """The tkinter widgets over a SetupForm. ``run()`` returns True once the computer is connected.

    ``notifier`` is the process's one Notifier (shared with the run loop that may follow).
    """

    def __init__(self, form: SetupForm, notifier: Notifier, connector: Connector = connect_device):
        import tkinter as tk
        from tkinter import ttk

        self.form = form
        self._notifier = notifier
        form.note_popup_problem(notifier)
        self._connector = connector
        self.root = tk.Tk()
        self.root.title(TITLE)
        self.root.resizable(False, False)
        frame = ttk.Frame(self.root, padding=16)
        frame.grid()
        ttk.Label(frame, text=INTRO, wraplength=380, justify="left").grid(
            row=0, column=0, columnspan=2, sticky="w", pady=(0, 12)
        )
        self.server = tk.StringVar(value=form.server)
        self.username = tk.StringVar(value=form.username)
        self.password = tk.StringVar()
        self.autostart = tk.BooleanVar(value=form.autostart)
        self.status = tk.StringVar(value=form.status)
        for row, (label, variable, show) in enumerate(
            [("Сервер CRM", self.server, ""), ("Логин", self.username, ""), ("Пароль", self.password, "•")], start=1
        ):
            ttk.Label(frame, text=label).grid(row=row, column=0, sticky="w", padx=(0, 8), pady=2)
            entry = ttk.Entry(frame, textvariable=variable, width=36, show=show)
            entry.grid(row=row, column=1, sticky="we", pady=2)
            if (row == 2 and not form.username) or (row == 3 and form.username):
                entry.focus_set()
        ttk.Checkbutton(frame, text="Запускать при входе в систему", variable=self.autostart).grid(
            row=4, column=1, sticky="w", pady=(6, 6)
        )
        buttons = ttk.Frame(frame)
        buttons.grid(row=5, column=0, columnspan=2, sticky="e")
        self.check_button = ttk.Button(buttons, text="Проверить", command=self.check)
        self.check_button.grid(row=0, column=0, padx=4)
        self.connect_button = ttk.Button(buttons, text="Подключить", command=self.connect)
        self.connect_button.grid(row=0, column=1, padx=4)
        ttk.Label(frame, textvariable=self.status, wraplength=380, justify="left").grid(
            row=6, column=0, columnspan=2, sticky="w", pady=(10, 0)
        )
        self.root.bind("<Return>", lambda _event: self.connect())
        self.done = False

    def _pull(self) -> None:
        self.form.server = self.server.get()
        self.form.username = self.username.get()
        self.form.password = self.password.get()
        self.form.autostart = bool(self.autostart.get())

    def check(self) -> None:
        self.form.test_popup(self._notifier)
        self.status.set(self.form.status)

    def connect(self) -> None:
        self._pull()
        self.done = self.form.submit(self._connector)
        self.password.set("")
        self.status.set(self.form.status)
        if self.done:
            self.connect_button.configure(text="Закрыть", command=self.root.destroy)

    def run(self) -> bool:
        self.root.mainloop()
        return self.done
