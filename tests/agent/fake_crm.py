"""A real HTTP server (ThreadingHTTPServer on 127.0.0.1) implementing the Agent's part of the CRM contract.

In-memory users, tokens, events and settings; the test can expire tokens, change a password, make the next
answers fail with 5xx, stop the server and start it again on the same port.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PASSWORD = "Пароль-для-тестов-1"
KINDS = ("request_created", "request_status", "delivery_status", "request_comment", "reminder")
PAGE = 100


def encode_cursor(last_id: int) -> str:
    return "v1." + base64.urlsafe_b64encode(str(last_id).encode()).decode()


def decode_cursor(cursor: str) -> int:
    if not cursor.startswith("v1."):
        raise ValueError(cursor)
    return int(base64.urlsafe_b64decode(cursor[3:].encode()).decode())


class FakeCRM:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.passwords = {"ivanov": PASSWORD}
        self.access: dict[str, str] = {}
        self.refresh: dict[str, str] = {}
        self.devices: dict[str, str] = {}  # device token -> user
        self.device_names: list[str] = []
        self.latest_version: str | None = None  # set: the feed tells the Agent it is outdated
        self.events: list[dict[str, Any]] = []
        self.settings: dict[str, Any] = {"kinds": dict.fromkeys(KINDS, True), "poll_seconds": 30}
        self.calls: list[tuple[str, str]] = []  # (method, path) of every request
        self.fail_next: list[int] = []  # statuses for the next event requests
        self.port = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control from the test --

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        crm = self

        class Handler(_Handler):
            app = crm

        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def add_event(self, kind: str = "request_created", title: str | None = None, message: str | None = None) -> int:
        with self.lock:
            event_id = len(self.events) + 1
            self.events.append(
                {
                    "id": event_id,
                    "kind": kind,
                    "title": title if title is not None else f"Новый запрос 2026-{event_id:04d}",
                    "message": message if message is not None else f"Событие номер {event_id}",
                    "url": f"/crm/request/{event_id}",
                    "created_on": datetime.now(UTC).isoformat(),
                }
            )
            return event_id

    def add_events(self, count: int, kind: str = "request_created") -> list[int]:
        return [self.add_event(kind) for _ in range(count)]

    def expire_access_tokens(self) -> None:
        with self.lock:
            self.access.clear()

    def revoke_devices(self) -> None:
        with self.lock:
            self.devices.clear()

    def revoke_refresh_tokens(self) -> None:
        with self.lock:
            self.refresh.clear()

    def count(self, method: str, path: str) -> int:
        with self.lock:
            return sum(1 for call in self.calls if call == (method, path))

    # -- the contract --

    def handle(self, method: str, url: str, headers: Any, body: bytes) -> tuple[int, Any]:
        parts = urlsplit(url)
        path, query = parts.path, parse_qs(parts.query)
        with self.lock:
            self.calls.append((method, path))
            token = headers.get("Authorization", "").removeprefix("Bearer ").strip()
            if method == "POST" and path == "/api/v1/security/login":
                data = json.loads(body or b"{}")
                user = data.get("username")
                if data.get("provider") != "db" or self.passwords.get(user) != data.get("password"):
                    return 401, {"message": "Not authorized"}
                access, refresh = secrets.token_hex(8), secrets.token_hex(8)
                self.access[access] = user
                self.refresh[refresh] = user
                return 200, {"access_token": access, "refresh_token": refresh}
            if method == "POST" and path == "/api/v1/agent/connect":
                data = json.loads(body or b"{}")
                user = data.get("username")
                if self.passwords.get(user) != data.get("password"):
                    return 401, {"message": "Not authorized"}
                device = "zta1_" + secrets.token_hex(8)
                self.devices[device] = user
                self.device_names.append(data.get("device_name", ""))
                return 200, {"token": device, "device_id": len(self.devices), "username": user}
            if method == "POST" and path == "/api/v1/security/refresh":
                user = self.refresh.get(token)
                if user is None:
                    return 401, {"msg": "Token has been revoked"}
                access = secrets.token_hex(8)
                self.access[access] = user
                return 200, {"access_token": access}
            if token not in self.access and token not in self.devices:
                return 401, {"msg": "Token has expired"}
            if path == "/api/v1/agent/events" and method == "GET":
                if self.fail_next:
                    return self.fail_next.pop(0), {"message": "Service Unavailable"}
                last_id = self.events[-1]["id"] if self.events else 0
                if "after" not in query:
                    return 200, {"events": [], "cursor": encode_cursor(last_id)}
                try:
                    after = decode_cursor(query["after"][0])
                except ValueError:
                    return 400, {"message": "Malformed cursor"}
                wanted = [e for e in self.events if e["id"] > after and self.settings["kinds"].get(e["kind"])]
                page = wanted[:PAGE]
                # the cursor moves past filtered-out events too, up to the last one examined
                end = page[-1]["id"] if len(page) == PAGE else last_id
                answer = {"events": page, "cursor": encode_cursor(max(end, after))}
                if self.latest_version:
                    answer["agent"] = {
                        "version": self.latest_version,
                        "outdated": True,
                        "download": self.url + "/agent",
                    }
                return 200, answer
            if path == "/api/v1/agent/settings":
                if method == "PUT":
                    data = json.loads(body or b"{}")
                    if not isinstance(data.get("kinds"), dict) or set(data["kinds"]) - set(KINDS):
                        return 400, {"message": "Unknown kind"}
                    self.settings = {"kinds": dict(data["kinds"]), "poll_seconds": int(data["poll_seconds"])}
                return 200, self.settings
            return 404, {"message": "Not found"}


class _Handler(BaseHTTPRequestHandler):
    app: FakeCRM

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, payload = self.app.handle(self.command, self.path, self.headers, body)
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = do_PUT = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass
