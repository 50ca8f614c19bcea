"""A real pop-up: plyer → notify-send → D-Bus → dunst on a virtual X display, read back with ``dunstctl history``.

Needs the Debian packages xvfb dunst libnotify-bin dbus-x11 (skipped without them).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agent import autostart
from agent.config import LOG_FILE
from tests.agent.fake_crm import PASSWORD, FakeCRM
from tests.agent.support import DESKTOP_SESSION, DESKTOP_TOOLS

TOOLS = DESKTOP_TOOLS
ROOT = Path(autostart.package_root())

SCRIPT = (
    DESKTOP_SESSION
    + r"""
"$PYTHON" -m agent run --once
sleep 0.3
dunstctl close-all
sleep 0.2
dunstctl history > "$HISTORY"
"""
)


@pytest.mark.skipif(any(shutil.which(tool) is None for tool in TOOLS), reason="needs " + " ".join(TOOLS))
@pytest.mark.skipif(os.path.isdir("/app"), reason="plyer would pick the Flatpak portal")
def test_event_becomes_a_real_desktop_popup(crm: FakeCRM, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    env.update(
        ZAPTRADE_AGENT_HOME=str(tmp_path / "home"),
        ZAPTRADE_TEST_KEYRING=str(tmp_path / "keyring.json"),
        PYTHON_KEYRING_BACKEND="tests.agent.keyrings_for_tests.FileTestKeyring",
        PYTHONPATH=str(ROOT),
        PYTHON=sys.executable,
        HISTORY=str(tmp_path / "history.json"),
        DISPLAY_NO=str(90 + os.getpid() % 100),
    )
    setup = subprocess.run(
        [sys.executable, "-m", "agent", "setup", "--server", crm.url, "--username", "ivanov", "--password-stdin"],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=30,
    )
    assert setup.returncode == 0, setup.stderr
    crm.add_event("request_created", title="Новый запрос 2026-0042", message="-ООО «Ромашка»: насос ЦНС 38-44")

    run = subprocess.run(
        ["dbus-run-session", "--", "bash", "-c", SCRIPT], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60
    )
    assert run.returncode == 0, run.stderr
    history = json.loads((tmp_path / "history.json").read_text(encoding="utf-8"))["data"][0]
    assert len(history) == 1
    popup = history[0]
    assert popup["summary"]["data"] == "Новый запрос 2026-0042"
    assert popup["body"]["data"].lstrip("\u200b") == "-ООО «Ромашка»: насос ЦНС 38-44"
    assert popup["appname"]["data"] == "ZapTrade CRM"
    assert popup["timeout"]["data"] > 0  # expires (plyer's notify-send path alone would pass 0: never)
    log_text = (tmp_path / "home" / LOG_FILE).read_text(encoding="utf-8")
    assert "plyer backend NotifySendNotification" in log_text
    assert "FAILED" not in log_text and "probably not" not in log_text
    assert "Не удаётся показать уведомление" not in log_text  # a working desktop: no remedy to give
