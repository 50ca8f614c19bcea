"""HTTP clients for the benchmark: logged-in users over keep-alive connections, and a timer that
runs one case with N concurrent clients (threads) on loopback."""

from __future__ import annotations

import http.client
import json
import math
import re
import statistics
import threading
import time
import urllib.parse
from collections.abc import Callable
from http.cookies import SimpleCookie

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


class Answer:
    def __init__(self, status: int, body: bytes, headers: http.client.HTTPMessage) -> None:
        self.status, self.body, self.headers = status, body, headers

    def json(self):
        return json.loads(self.body)


class User:
    """One logged-in user: the web session cookie and an API token; a connection per thread."""

    def __init__(self, port: int, username: str) -> None:
        self.port = port
        self.username = username
        self.cookies: dict[str, str] = {}
        self.token: str | None = None
        self.password = ""
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        return connection

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> Answer:
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for attempt in (1, 2):
            connection = self._connection()
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                answer = Answer(response.status, response.read(), response.headers)
                break
            except (ConnectionError, http.client.HTTPException):
                connection.close()
                self._local.connection = None
                if attempt == 2:
                    raise
        for header in answer.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return answer

    def get(self, path: str) -> Answer:
        return self.request("GET", path)

    def api(self, method: str, path: str, payload: dict | None = None) -> Answer:
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        body = json.dumps(payload).encode() if payload is not None else None
        return self.request(method, path, body=body, headers=headers)

    def log_in(self, password: str) -> None:
        """As a browser does (CSRF token, session cookie), and as the Agent does (JWT)."""
        page = self.get("/login/").body.decode()
        match = _CSRF.search(page)
        if not match:
            raise RuntimeError("no CSRF token on /login/")
        form = urllib.parse.urlencode(
            {"username": self.username, "password": password, "csrf_token": match.group(1) or match.group(2)}
        )
        answer = self.request("POST", "/login/", form.encode(), {"Content-Type": "application/x-www-form-urlencoded"})
        if answer.status != 302 or "/login" in (answer.headers.get("Location") or ""):
            raise RuntimeError(f"{self.username} could not log in: {answer.status}")
        self.password = password
        self.renew_token()

    def renew_token(self) -> None:
        """A fresh JWT: the access token lives only minutes (FAB's default), a run takes longer."""
        login = {"username": self.username, "password": self.password, "provider": "db"}
        answer = self.request(
            "POST", "/api/v1/security/login", json.dumps(login).encode(), {"Content-Type": "application/json"}
        )
        if answer.status != 200:
            raise RuntimeError(f"{self.username}: API login answered {answer.status}")
        self.token = answer.json()["access_token"]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def measure(call: Callable[[int], Answer], concurrency: int, total: int, expected: int = 200) -> dict:
    """Run `total` calls from `concurrency` threads, each call timed on its own; a call's argument
    is its index (to rotate through ids and search terms)."""
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    next_index = iter(range(total))

    def client() -> None:
        while True:
            with lock:
                index = next(next_index, None)
            if index is None:
                return
            started = time.perf_counter()
            try:
                answer = call(index)
                status = answer.status
            except Exception as error:  # a broken connection counts as a failure, the run goes on
                status = f"{error.__class__.__name__}: {error}"
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed * 1000)
                if status != expected:
                    failures.append(str(status))

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return {
        "concurrency": concurrency,
        "requests": total,
        "median_ms": round(statistics.median(latencies), 1),
        "p95_ms": round(percentile(latencies, 0.95), 1),
        "max_ms": round(max(latencies), 1),
        "rps": round(total / wall, 1),
        "errors": len(failures),
        "error_sample": failures[:3],
    }
