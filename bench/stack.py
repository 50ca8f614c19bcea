"""The system as in production, for the benchmark: gunicorn, an RQ worker and the scheduler
(`worker.py`), with a real SMTP sink that notes when each e-mail arrives."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.smtp_sink import SmtpSink, _Recorder

ROOT = Path(__file__).resolve().parent.parent
_REMINDER_ID = re.compile(r"<reminder-(\d+)-")


class _TimedRecorder(_Recorder):
    """Also keeps, per reminder, the moment its e-mail was accepted."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: dict[int, float] = {}
        self.duplicates = 0

    async def handle_DATA(self, server, session, envelope) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        match = _REMINDER_ID.search((envelope.original_content or envelope.content).decode(errors="replace"))
        if answer.startswith("250") and match:
            with self.lock:
                reminder_id = int(match.group(1))
                if reminder_id in self.arrivals:
                    self.duplicates += 1
                else:
                    self.arrivals[reminder_id] = time.time()
        return answer


class TimedSmtpSink(SmtpSink):
    def __init__(self) -> None:
        super().__init__()
        self.recorder = _TimedRecorder()

    def arrivals(self) -> dict[int, float]:
        with self.recorder.lock:
            return dict(self.recorder.arrivals)


class Stack:
    """Processes started by the benchmark; stopped by their own ids at the end."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen] = {}

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen:
        log = (self.log_dir / f"{name}.log").open("w")
        process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.processes[name] = process
        return process

    def start_web(self, port: int, workers: int) -> None:
        command = [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind", f"127.0.0.1:{port}"]
        command.append("--no-control-socket")  # gunicorn 27's default socket is shared by the user's instances
        self._spawn("web", [*command, "run:app"])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health?scope=web", timeout=5) as answer,
            ):
                if answer.status == 200 and len(self.web_workers()) == workers:
                    return
            if self.processes["web"].poll() is not None:
                break
            time.sleep(0.3)
        raise RuntimeError(f"gunicorn did not start; see {self.log_dir / 'web.log'}")

    def start_background(self, rq_workers: int) -> None:
        for n in range(rq_workers):
            self._spawn(f"worker-{n}", [sys.executable, "worker.py", "worker"])
        self._spawn("scheduler", [sys.executable, "worker.py", "scheduler"])

    def web_workers(self) -> list[int]:
        """Process ids of gunicorn's workers (the master's children)."""
        master = self.processes["web"].pid
        children = Path(f"/proc/{master}/task/{master}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    @staticmethod
    def memory_mb(pid: int) -> dict[str, float]:
        """Resident memory now and at its peak (VmRSS, VmHWM), in MiB."""
        fields = {}
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) / 1024
        return {"rss_mb": round(fields["VmRSS"], 1), "peak_rss_mb": round(fields["VmHWM"], 1)}

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


class CpuSampler:
    """Where the machine's CPU went during a run: the web workers, PostgreSQL, this benchmark's own
    clients, everything else; in milliseconds per request, from /proc."""

    TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")

    def __init__(self, web_workers: list[int]) -> None:
        self.web_workers = web_workers
        self.started = self._read()

    def _read(self) -> dict[str, float]:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        ticks = {"machine": sum(values), "idle": values[3] + values[4]}
        ticks["web"] = sum(self._process_ticks(pid) for pid in self.web_workers)
        ticks["postgres"] = sum(self._process_ticks(pid) for pid in self._pids_named("postgres"))
        ticks["clients"] = self._process_ticks(os.getpid())
        return ticks

    @staticmethod
    def _process_ticks(pid: int) -> int:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            return 0
        return int(fields[11]) + int(fields[12])  # utime, stime

    @staticmethod
    def _pids_named(name: str) -> list[int]:
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if (entry / "comm").read_text().strip() == name:
                        pids.append(int(entry.name))
        return pids

    def figures(self, requests: int) -> dict[str, float]:
        """Busy share of the whole machine, and CPU milliseconds per request by whom."""
        now = self._read()
        spent = {key: now[key] - self.started[key] for key in now}
        busy = spent["machine"] - spent["idle"]
        per_request = {
            f"cpu_ms_{key}": round(spent[key] * self.TICK_MS / requests, 1) for key in ("web", "postgres", "clients")
        }
        per_request["cpu_ms_machine"] = round(busy * self.TICK_MS / requests, 1)
        return {"cpu": round(busy / spent["machine"], 2) if spent["machine"] else 0.0, **per_request}
