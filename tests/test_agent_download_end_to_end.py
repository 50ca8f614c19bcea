"""The downloaded Agent as a manager gets it: logged in to the running server, «Скачать Агент», then the file
runs with a Python that has nothing installed, connects with her login and password (the server's address
is already inside), and shows real pop-ups (plyer → notify-send → dunst on Xvfb), counted from dunst."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest

from tests.agent.support import DESKTOP_SESSION, DESKTOP_TOOLS
from tests.conftest import PASSWORD
from tests.factories import make_organization
from tests.test_agent_end_to_end import Api, _user_id, server  # noqa: F401 - the live-server fixture

TOOLS = DESKTOP_TOOLS
SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/usr/local/bin")

DESKTOP = (
    DESKTOP_SESSION
    + r"""
"$PYTHON" "$AGENT" run --once && echo 0 > "$EXIT_CODE" || echo $? > "$EXIT_CODE"
sleep 0.3
dunstctl close-all
sleep 0.2
dunstctl history > "$HISTORY"
"""
)


def download_as(url: str, username: str) -> bytes:
    """Log in through the login form as a browser would, then press «Скачать Агент»."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), urllib.request.ProxyHandler({})
    )
    page = opener.open(url + "/login/", timeout=10).read().decode()
    tag = re.search(r'<input[^>]*name="csrf_token"[^>]*>', page).group(0)
    token = re.search(r'value="([^"]+)"', tag).group(1)
    form = urllib.parse.urlencode({"username": username, "password": PASSWORD, "csrf_token": token}).encode()
    opener.open(url + "/login/", data=form, timeout=10).read()
    agent_page = opener.open(url + "/agent-settings/", timeout=10).read().decode()
    assert "Скачать Агент" in agent_page
    with opener.open(url + "/agent-settings/download", timeout=30) as answer:
        assert answer.status == 200
        return answer.read()


@pytest.mark.skipif(any(shutil.which(tool) is None for tool in TOOLS), reason="needs " + " ".join(TOOLS))
@pytest.mark.skipif(SYSTEM_PYTHON is None, reason="needs a system python3 for the clean virtual environment")
@pytest.mark.skipif(os.path.isdir("/app"), reason="plyer would pick the Flatpak portal")
def test_downloaded_agent_runs_with_nothing_installed_and_pops_up_for_real(app, server, tmp_path):  # noqa: F811
    body = download_as(server.url, "petrova")
    agent_file = tmp_path / "Загрузки" / "zaptrade-agent.pyz"
    agent_file.parent.mkdir()
    agent_file.write_bytes(body)

    venv = tmp_path / "clean-venv"
    subprocess.run([SYSTEM_PYTHON, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = str(venv / "bin" / "python")
    assert subprocess.run([python, "-c", "import plyer"], capture_output=True).returncode != 0  # nothing there
    home = tmp_path / "agent-home"
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy") and not k.startswith("PYTHON")}
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    env.pop("DISPLAY", None)
    env.update(ZAPTRADE_AGENT_HOME=str(home), HOME=str(tmp_path / "user"), XDG_CONFIG_HOME=str(tmp_path / "cfg"))

    started = time.monotonic()
    helped = subprocess.run([python, str(agent_file), "--help"], capture_output=True, text=True, env=env, timeout=60)
    help_seconds = time.monotonic() - started
    assert helped.returncode == 0, helped.stderr
    assert "Агент ZapTrade CRM" in helped.stdout and "setup" in helped.stdout
    print(f"\ndownload {len(body) / 1024:.0f} KB; --help in {help_seconds:.2f} s")

    # Headless set-up: the server's address is offered from the file itself (Enter accepts it).
    setup = subprocess.run(
        [python, str(agent_file), "setup", "--username", "petrova", "--password-stdin", "--autostart"],
        input="\n" + PASSWORD + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert setup.returncode == 0, setup.stdout + setup.stderr
    assert server.url in setup.stdout
    config = json.loads((home / "config.json").read_text(encoding="utf-8"))
    assert config["server"] == server.url and config["username"] == "petrova"
    # no OS keyring in a bare Python here: the token is in a file only she can read, and the Agent says so
    assert config["token_store"] == "file" and "в файле" in setup.stdout
    assert (home / "token").stat().st_mode & 0o777 == 0o600
    assert PASSWORD not in "".join(p.read_text(errors="replace") for p in home.iterdir() if p.is_file())
    # autostart runs the copy in the agent home, so the Downloads folder may be emptied
    desktop = (tmp_path / "cfg" / "autostart" / "zaptrade-agent.desktop").read_text(encoding="utf-8")
    assert f"Exec={python} {home / 'zaptrade-agent.pyz'} run" in desktop
    assert (home / "zaptrade-agent.pyz").read_bytes() == body

    petrova_id = _user_id(app, "petrova")
    with app.app_context():
        from app.extensions import db
        from app.models import CrmUser

        own_id = make_organization("ООО «Скачанная»", responsible=db.session.get(CrmUser, petrova_id)).id
    ivanov = Api(server.url, "ivanov")
    for _ in range(3):
        ivanov.call("POST", "/api/v1/request/", {"organization": own_id, "responsible": petrova_id})

    env.update(
        PYTHON=python,
        AGENT=str(agent_file),
        HISTORY=str(tmp_path / "history.json"),
        EXIT_CODE=str(tmp_path / "exit-code"),
    )
    env["DISPLAY_NO"] = str(200 + os.getpid() % 50)
    started = time.monotonic()
    run = subprocess.run(
        ["dbus-run-session", "--", "bash", "-c", DESKTOP], capture_output=True, text=True, env=env, timeout=120
    )
    assert run.returncode == 0, run.stderr
    print(f"run --once with 3 pop-ups (incl. Xvfb and dunst start) in {time.monotonic() - started:.2f} s")
    popups = json.loads((tmp_path / "history.json").read_text(encoding="utf-8"))["data"][0]
    assert len(popups) == 3
    assert all(p["summary"]["data"].startswith("Новый запрос") for p in popups)
    assert all("Скачанная" in p["body"]["data"] for p in popups)
    assert {p["appname"]["data"] for p in popups} == {"ZapTrade CRM"}
    log_text = (home / "agent.log").read_text(encoding="utf-8")
    assert "FAILED" not in log_text and "probably not" not in log_text
    assert "Не удаётся показать уведомление" not in log_text  # a working desktop: no remedy to give
    assert sys.executable not in desktop  # the project's Python is nowhere in the manager's setup

    # The administrator resets her password: the Agent is disconnected, says so once, and forgets its token.
    with app.app_context():
        app.appbuilder.sm.reset_password(petrova_id, "Another-Passw0rd-2026")
    try:
        ivanov.call("POST", "/api/v1/request/", {"organization": own_id, "responsible": petrova_id})
        run = subprocess.run(
            ["dbus-run-session", "--", "bash", "-c", DESKTOP], capture_output=True, text=True, env=env, timeout=120
        )
        assert run.returncode == 0, run.stderr
        assert (tmp_path / "exit-code").read_text().strip() == "2"
        assert "войдите снова" in run.stderr
        popups = json.loads((tmp_path / "history.json").read_text(encoding="utf-8"))["data"][0]
        assert [p["summary"]["data"] for p in popups] == ["Агент отключён — войдите снова"]
        assert not (home / "token").exists()
    finally:
        with app.app_context():
            app.appbuilder.sm.reset_password(petrova_id, PASSWORD)
