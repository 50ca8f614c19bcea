"""`make run`'s group looks after itself: a child that dies is started again, the embedded Redis
included, the site says where it really is when it had to take the next free port, and a set-up
that cannot work stops the group with its reason instead of retrying for ever."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from tests.background import wait_until
from tests.conftest import PASSWORD

ROOT = Path(__file__).resolve().parent.parent


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=3) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def test_make_run_restarts_its_killed_redis_and_links_to_the_port_it_serves(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    wanted_port = taken.getsockname()[1]
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "PUBLIC_URL", "MAIL_SERVER", "no_proxy", "NO_PROXY"}
    }
    env.update(
        # An office proxy that cannot reach this machine: the launcher must ask its site directly.
        http_proxy="http://127.0.0.1:9",
        HTTP_PROXY="http://127.0.0.1:9",
        INSTANCE_DIR=str(tmp_path),
        PORT=str(wanted_port),
        ADMIN_PASSWORD=PASSWORD,
        HEALTH_HEARTBEAT_SECONDS="4",
        WEB_CONCURRENCY="1",
        SCHEDULER_INTERVAL="1",
    )
    launcher = subprocess.Popen(
        [sys.executable, "-m", "app.launcher", "start"],  # what `make run` runs
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    threading.Thread(target=lambda: output.extend(iter(launcher.stdout.readline, "")), daemon=True).start()
    try:
        assert wait_until(lambda: "ZapTrade CRM is running" in "".join(output), timeout=120), "".join(output)
        text = "".join(output)
        url = re.search(r"ZapTrade CRM is running: (http://\S+)", text).group(1)
        redis_port = int(re.search(r"embedded Redis at redis://127\.0\.0\.1:(\d+)/0", text).group(1))
        served_port = int(url.rsplit(":", 1)[1])
        assert served_port != wanted_port  # the next free port was taken
        assert (tmp_path / f"gunicorn-{served_port}.ctl").exists()  # its own control socket
        assert "Log in as admin with the password from ADMIN_PASSWORD." in text
        assert not list(tmp_path.glob("start-*.hint"))  # the banner took the login line
        # The background pair waited for the site: the web server had the CPU to itself.
        assert wait_until(lambda: "rq.worker" in "".join(output), timeout=60), "".join(output)[-3000:]
        text = "".join(output)
        assert text.index("ZapTrade CRM is running") < text.index("worker    |")
        assert wait_until(lambda: _status(url + "/health") == 200, timeout=60), "".join(output)[-3000:]

        from http.cookiejar import CookieJar

        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        login_page = opener.open(url + "/login/").read().decode()
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', login_page).group(1)
        form = f"username=admin&password={PASSWORD}&csrf_token={token}".encode()
        opener.open(url + "/login/", data=form)
        settings = opener.open(url + "/agent-settings/").read().decode()
        assert f"<code>{url}</code>" in settings

        # redis-server titles itself "redis-server 127.0.0.1:PORT"; its keeper's command line differs.
        found = subprocess.run(["pgrep", "-f", f"redis-server 127.0.0.1:{redis_port}"], capture_output=True, text=True)
        [redis_pid] = found.stdout.split()
        os.kill(int(redis_pid), signal.SIGKILL)
        killed = time.monotonic()
        assert wait_until(lambda: _status(url + "/health") == 503, timeout=10)
        assert wait_until(lambda: _status(url + "/health") == 200, timeout=60), "".join(output)[-3000:]
        print(f"\nembedded Redis killed: /health 200 again after {time.monotonic() - killed:.1f} s")
        assert launcher.poll() is None
    finally:
        launcher.send_signal(signal.SIGTERM)
        try:
            launcher.wait(timeout=30)
        except subprocess.TimeoutExpired:
            launcher.kill()
        taken.close()


def test_make_run_stops_with_the_reason_when_its_database_cannot_be_set_up(tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in {"REDIS_URL", "PUBLIC_URL"}}
    env.update(INSTANCE_DIR=str(tmp_path), DATABASE_URL="postgresql://127.0.0.1:1/nowhere", ADMIN_PASSWORD=PASSWORD)
    finished = subprocess.run(
        [sys.executable, "-m", "app.launcher", "start"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 78, finished.stdout[-3000:]
    assert "ZapTrade CRM could not set up its database; nothing was started" in finished.stdout
    assert "Connection refused" in finished.stdout
    assert "ZapTrade CRM is running" not in finished.stdout
    assert "worker    |" not in finished.stdout  # the background pair never started
