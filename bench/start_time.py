"""How long `make run` takes to its banner: a first start on an empty instance, then second starts.

    .venv/bin/python bench/start_time.py [--second-starts 3]

Each start runs the README's `make run` in a fresh temporary INSTANCE_DIR (its own SQLite and
embedded Redis; the virtualenv is reused, so "first" is a first start without the install), reads
its output until the banner, and stops it with Ctrl-C's signal. It prints the seconds to the
banner and how long the group took to stop.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BANNER = "ZapTrade CRM is running"


def one_start(instance: Path) -> tuple[float, float]:
    """Seconds to the banner, seconds to stop after SIGINT."""
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL", "PUBLIC_URL"}}
    env.update(INSTANCE_DIR=str(instance), ADMIN_PASSWORD="Bench-Admin-Passw0rd")
    started = time.monotonic()
    make = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # Ctrl-C reaches the whole group, as in a terminal
    )
    seen = threading.Event()
    lines: list[str] = []

    def read() -> None:
        for line in make.stdout:
            lines.append(line)
            if BANNER in line:
                seen.set()

    threading.Thread(target=read, daemon=True).start()
    if not seen.wait(timeout=300):
        os.killpg(make.pid, signal.SIGKILL)
        raise SystemExit("no banner within 300 s:\n" + "".join(lines[-40:]))
    to_banner = time.monotonic() - started
    time.sleep(3)  # let the worker and scheduler come up, as they do after a real start
    stopping = time.monotonic()
    os.killpg(make.pid, signal.SIGINT)
    make.wait(timeout=60)
    return to_banner, time.monotonic() - stopping


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--second-starts", type=int, default=3)
    args = parser.parse_args()
    subprocess.run(["make", "--no-print-directory", "install", "translations"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory(prefix="zaptrade-start-") as directory:
        instance = Path(directory)
        first, first_stop = one_start(instance)
        print(f"first start (empty instance): {first:5.1f} s to the banner, stopped in {first_stop:.1f} s")
        seconds = []
        for number in range(1, args.second_starts + 1):
            second, stop = one_start(instance)
            seconds.append(second)
            print(f"second start #{number}:           {second:5.1f} s to the banner, stopped in {stop:.1f} s")
    print(f"second start, median of {len(seconds)}: {statistics.median(seconds):.1f} s  (cores: {os.cpu_count()})")


if __name__ == "__main__":
    sys.exit(main())
