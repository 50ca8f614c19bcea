"""Agent tests: a private agent home, an in-memory keyring, a real HTTP server, a recorder instead of plyer."""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest

from agent.client import Client, TokenSession
from agent.loop import Agent, Backoff, CursorStore
from agent.notifier import Notifier
from tests.agent.fake_crm import PASSWORD, FakeCRM
from tests.agent.keyrings_for_tests import MemoryKeyring
from tests.agent.support import Recorder


@pytest.fixture(autouse=True)
def agent_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own agent home, no proxy (the server is on 127.0.0.1) and a clean keyring."""
    home = tmp_path / "agent-home"
    monkeypatch.setenv("ZAPTRADE_AGENT_HOME", str(home))
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    yield home
    keyring.set_keyring(previous)
    for name in ("agent", "py.warnings"):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
            handler.close()
        logger.propagate = True  # let caplog see the next test's records


@pytest.fixture
def crm() -> Iterator[FakeCRM]:
    server = FakeCRM()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def make_agent(crm: FakeCRM, recorder: Recorder, agent_env: Path) -> Callable[..., Agent]:
    """An Agent as ``run`` builds it, with fast timings; its device token comes from the (test) keyring."""
    agent_env.mkdir(parents=True, exist_ok=True)
    keyring.set_password("zaptrade-agent-token", "ivanov", Client(crm.url).connect("ivanov", PASSWORD, "test"))

    def build(**kwargs: Any) -> Agent:
        session = TokenSession(
            Client(crm.url, timeout=5), "ivanov", lambda: keyring.get_password("zaptrade-agent-token", "ivanov")
        )
        kwargs.setdefault("poll_seconds", 0.05)
        kwargs.setdefault("settings_every", None)  # the server's 30 s would override the fast test interval
        kwargs.setdefault("backoff", Backoff(base=0.02, cap=0.2))
        return Agent(session, Notifier(recorder), CursorStore(agent_env, crm.url, "ivanov"), **kwargs)

    return build


@pytest.fixture(scope="session")
def _virtual_screen() -> Iterator[str]:
    """One Xvfb for the whole run, on a free display number (-displayfd). Tk keeps its X connection after
    ``destroy()``; a screen stopped while the process lives makes Xlib end the process at the next Tk window."""
    read_end, write_end = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "800x600x24", "-nolisten", "tcp"],
        pass_fds=(write_end,),
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    try:
        with os.fdopen(read_end) as answer:
            number = answer.readline().strip()
        assert number, "Xvfb did not start"
        yield f":{number}"
    finally:
        xvfb.terminate()
        xvfb.wait(timeout=10)


@pytest.fixture
def xvfb_display(_virtual_screen: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """DISPLAY of the shared virtual screen, for a test that opens the real tkinter window."""
    monkeypatch.setenv("DISPLAY", _virtual_screen)
    return _virtual_screen
