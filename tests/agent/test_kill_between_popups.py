"""``kill -9`` of a real Agent process between two pop-ups of one batch: after a restart nothing is repeated
and nothing is lost, because the cursor file is rewritten (temp file + os.replace) after every pop-up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from agent import autostart
from agent.config import CURSOR_FILE
from tests.agent.fake_crm import PASSWORD, FakeCRM
from tests.agent.support import wait_for

ROOT = Path(autostart.package_root())

# The Agent's own `run`, with plyer's call replaced by one that appends the pop-up to a file (flushed to disk)
# and, when asked, hangs at the start of pop-up number HANG_AT: that is, after the previous one was shown and
# its cursor saved, before the next one is shown.
RUNNER = r"""
import os, sys, time
from agent.__main__ import main

shown_file, hang_at = sys.argv[1], int(sys.argv[2])

def notify(title, message, app_name, timeout):
    with open(shown_file, encoding="utf-8") as handle:
        count = sum(1 for _ in handle)
    if count + 1 == hang_at:
        open(shown_file + ".hanging", "w").close()
        time.sleep(60)
    with open(shown_file, "a", encoding="utf-8") as handle:
        handle.write(message + "\n")
        handle.flush()
        os.fsync(handle.fileno())

sys.exit(main(["run"], notify=notify))
"""


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(
        ZAPTRADE_AGENT_HOME=str(tmp_path / "home"),
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",  # the token goes to the 0600 file
        PYTHONPATH=str(ROOT),
    )
    return env


def _start(tmp_path: Path, shown: Path, hang_at: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(shown), str(hang_at)],
        cwd=ROOT,
        env=_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_kill_9_between_two_popups_neither_repeats_nor_loses(crm: FakeCRM, tmp_path: Path) -> None:
    crm.settings["poll_seconds"] = 5
    setup = subprocess.run(
        [sys.executable, "-m", "agent", "setup", "--server", crm.url, "--username", "ivanov", "--password-stdin"],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_env(tmp_path),
        timeout=30,
    )
    assert setup.returncode == 0, setup.stderr
    crm.add_events(5)  # one batch (one page) of five
    shown = tmp_path / "shown.txt"
    shown.write_text("", encoding="utf-8")

    doomed = _start(tmp_path, shown, hang_at=3)
    try:
        wait_for(lambda: Path(str(shown) + ".hanging").exists(), timeout=30)
        cursor = json.loads((tmp_path / "home" / CURSOR_FILE).read_text(encoding="utf-8"))
        assert cursor["shown"] == [1, 2]  # saved after each pop-up, not after the batch
    finally:
        os.killpg(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=10)
    assert doomed.returncode == -signal.SIGKILL
    assert shown.read_text(encoding="utf-8").split() == ["Событие", "номер", "1", "Событие", "номер", "2"]

    restarted = _start(tmp_path, shown, hang_at=0)
    try:
        wait_for(lambda: len(shown.read_text(encoding="utf-8").splitlines()) >= 5, timeout=30)
        time.sleep(0.5)  # a repeat would show up now
    finally:
        os.killpg(restarted.pid, signal.SIGTERM)
        restarted.wait(timeout=10)
    assert shown.read_text(encoding="utf-8").splitlines() == [f"Событие номер {n}" for n in range(1, 6)]
    leftovers = [p.name for p in (tmp_path / "home").iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []  # no half-written cursor left behind
