"""Real worker and scheduler processes (`python worker.py ...`) against the suite's services."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent


class Background:
    """Starts `worker.py worker|scheduler` as separate processes and stops them all at the end."""

    def __init__(self, app: Flask, log_dir: Path, **settings: str) -> None:
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen] = []
        self.env = {
            **os.environ,
            "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
            "REDIS_URL": app.config["REDIS_URL"],
            "SECRET_KEY": app.config["SECRET_KEY"],
            "MAIL_SERVER": app.config["MAIL_SERVER"] or "",
            "MAIL_PORT": str(app.config["MAIL_PORT"]),
            "MAIL_DEFAULT_SENDER": app.config["MAIL_DEFAULT_SENDER"],
            "PUBLIC_URL": app.config["PUBLIC_URL"],
            "UPLOAD_FOLDER": app.config["UPLOAD_FOLDER"],
            "INSTANCE_DIR": str(log_dir),
            "SCHEDULER_INTERVAL": "0.5",
            "REMINDER_SWEEP_SECONDS": "1",
            "REMINDER_CLAIM_LEASE_SECONDS": "3",
            "REMINDER_RETRY_DELAYS": "1,1,1",
            "HEALTH_HEARTBEAT_SECONDS": "4",
            "PYTHONUNBUFFERED": "1",
            "BACKUP_ENABLED": "0",  # the nightly backup runs only where a test turns it on
            **settings,
        }

    def start_web(self, port: int) -> subprocess.Popen:
        """The web app under gunicorn, as in production."""
        command = [sys.executable, "-m", "gunicorn", "--workers", "1", "--bind", f"127.0.0.1:{port}"]
        command += ["--no-control-socket", "run:app"]
        return self._spawn("web", command)

    def start(self, role: str) -> subprocess.Popen:
        return self._spawn(role, [sys.executable, "worker.py", role])

    def _spawn(self, role: str, command: list[str]) -> subprocess.Popen:
        log = (self.log_dir / f"{role}-{len(self.processes)}.log").open("w")
        process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def kill(self, process: subprocess.Popen) -> None:
        """SIGKILL to the worker and its work-horse child, as when the machine dies: no clean-up."""
        children = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        process.kill()
        process.wait(timeout=10)

    def stop(self, process: subprocess.Popen) -> None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                self.stop(process)

    def logs(self) -> str:
        return "\n".join(path.read_text(errors="replace")[-3000:] for path in sorted(self.log_dir.glob("*.log")))


def wait_until(condition, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


class OwnRedis:
    """A redis-server of the test's own on a free port, to stop, flush and start again; the
    machine's Redis is never touched. Started again on the same port, empty (no persistence)."""

    def __init__(self, data_dir: Path) -> None:
        from app.launcher import free_port, redis_server_binary

        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.binary = redis_server_binary()
        self.data_dir = data_dir
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        from redis import Redis
        from redis.exceptions import RedisError

        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data_dir)]
        command += ["--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        assert wait_until(lambda: _pings(Redis.from_url(self.url), RedisError), timeout=20), "redis did not start"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


def _pings(connection, error_class) -> bool:
    try:
        return bool(connection.ping())
    except error_class:
        return False
