"""HTTP side of the Agent (standard library only): login, refresh, the event feed and the settings.

Every failure is turned into one of three typed exceptions so the loop can decide without parsing text:
AuthError (log in / refresh again), ServerUnavailable (back off and retry), BadCursor (start from "now").
"""

from __future__ import annotations

import http.client
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

from agent import __version__

log = logging.getLogger(__name__)

PAGE_SIZE = 100
KINDS = ("request_created", "request_status", "delivery_status", "request_comment", "reminder")
MAX_BODY = 8 * 1024 * 1024
T = TypeVar("T")


class AgentError(Exception):
    """Base of the client's errors."""


class AuthError(AgentError):
    """The server refused the credentials or the token (401; 422 from flask-jwt-extended for a broken token)."""


class ServerUnavailable(AgentError):
    """No usable answer now: network down, timeout, 5xx, or an answer we cannot read. Worth retrying later."""


class BadCursor(AgentError):
    """The server rejected our cursor (400): the only way on is to start again from "now"."""


class PasswordChanged(AgentError):
    """Login with the stored password answers 401: retrying would only hammer the login, the user must run setup."""


class PasswordMissing(AgentError):
    """The keyring holds no password for the configured login."""


class DeviceRevoked(PasswordChanged):
    """The server no longer accepts this device's token: disconnected on the «Агент» page, or the password
    changed, or the account was deactivated. The user must log in again."""


VERSION_HEADER = "X-ZapTrade-Agent-Version"


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str | None


@dataclass(frozen=True)
class Event:
    id: int
    kind: str
    title: str
    message: str
    url: str = ""
    created_on: datetime | None = None

    @classmethod
    def from_json(cls, data: Any) -> Event:
        """Accepts what the feed sends; raises ValueError on an event we cannot even identify."""
        if not isinstance(data, dict):
            raise ValueError(f"event is not an object: {data!r:.200}")
        event_id = data.get("id")
        if isinstance(event_id, bool) or not isinstance(event_id, int):
            raise ValueError(f"event without an integer id: {data!r:.200}")
        created_on = None
        raw_date = data.get("created_on")
        if isinstance(raw_date, str) and raw_date:
            try:
                created_on = datetime.fromisoformat(raw_date.replace("Z", "+00:00"))
            except ValueError:
                log.warning("event %s: unreadable created_on %r", event_id, raw_date)
        return cls(
            id=event_id,
            kind=str(data.get("kind") or ""),
            title=str(data.get("title") or ""),
            message=str(data.get("message") or ""),
            url=str(data.get("url") or ""),
            created_on=created_on,
        )


@dataclass
class Page:
    """One answer of the feed. ``received`` counts every item sent, also the unreadable ones (full-page test)."""

    events: list[Event]
    cursor: str
    received: int
    latest_version: str | None = None
    outdated: bool = False
    download: str = ""

    @property
    def full(self) -> bool:
        return self.received >= PAGE_SIZE


@dataclass
class Settings:
    kinds: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(KINDS, True))
    poll_seconds: int = 30

    @classmethod
    def from_json(cls, data: Any) -> Settings:
        if not isinstance(data, dict) or not isinstance(data.get("kinds"), dict):
            raise ServerUnavailable(f"unexpected settings answer: {data!r:.200}")
        kinds = {kind: bool(value) for kind, value in data["kinds"].items()}
        try:
            poll_seconds = int(data.get("poll_seconds", 30))
        except (TypeError, ValueError) as exc:
            raise ServerUnavailable(f"unexpected poll_seconds: {data.get('poll_seconds')!r}") from exc
        return cls(kinds=kinds, poll_seconds=poll_seconds)

    def to_json(self) -> dict[str, Any]:
        return {"kinds": dict(self.kinds), "poll_seconds": self.poll_seconds}


class Client:
    """One CRM server. Stateless apart from the address: tokens are passed in and handed back."""

    def __init__(self, server: str, timeout: float = 20.0, opener: urllib.request.OpenerDirector | None = None) -> None:
        self.server = server.rstrip("/")
        self.timeout = timeout
        self._opener = opener or urllib.request.build_opener()

    # -- plumbing --

    def _request(
        self, method: str, path: str, *, token: str | None = None, body: Mapping[str, Any] | None = None
    ) -> tuple[int, Any]:
        """Send one request; returns (status, decoded JSON or None). Raises ServerUnavailable for transport errors."""
        headers = {
            "Accept": "application/json",
            "User-Agent": f"ZapTrade-Agent/{__version__}",
            VERSION_HEADER: __version__,
        }
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            request = urllib.request.Request(self.server + path, data=data, headers=headers, method=method)
            with self._opener.open(request, timeout=self.timeout) as response:
                status, raw = response.status, response.read(MAX_BODY + 1)
        except urllib.error.HTTPError as exc:
            status = exc.code
            try:
                raw = exc.read(MAX_BODY + 1)
            except (OSError, http.client.HTTPException):
                raw = b""
            finally:
                exc.close()
        except (OSError, http.client.HTTPException, ValueError) as exc:
            # URLError, refused connection, timeout, TLS failure, dropped connection, malformed URL...
            reason = getattr(exc, "reason", None) or exc
            raise ServerUnavailable(f"{method} {path}: {type(exc).__name__}: {reason}") from exc
        if len(raw) > MAX_BODY:
            raise ServerUnavailable(f"{method} {path}: answer larger than {MAX_BODY} bytes")
        try:
            payload = json.loads(raw.decode("utf-8")) if raw.strip() else None
        except (UnicodeDecodeError, ValueError):
            payload = None
            if 200 <= status < 300:
                raise ServerUnavailable(f"{method} {path}: answer {status} is not JSON") from None
        return status, payload

    @staticmethod
    def _describe(status: int, payload: Any) -> str:
        if isinstance(payload, dict):
            text = payload.get("message") or payload.get("msg")
            if text:
                return f"{status} {str(text)[:300]}"
        return str(status)

    def _check(self, method: str, path: str, status: int, payload: Any, token_used: bool) -> Any:
        """Map a status to the typed errors; return the payload of a 2xx."""
        if 200 <= status < 300:
            return payload
        detail = self._describe(status, payload)
        if status == 401:
            raise AuthError(f"{method} {path}: {detail}")
        # flask-jwt-extended answers 422 {"msg": ...} for a token it cannot decode (e.g. the server's key changed)
        if token_used and status == 422 and isinstance(payload, dict) and "msg" in payload:
            raise AuthError(f"{method} {path}: {detail}")
        raise ServerUnavailable(f"{method} {path}: {detail}")

    # -- the contract --

    def login(self, username: str, password: str) -> Tokens:
        path = "/api/v1/security/login"
        body = {"username": username, "password": password, "provider": "db", "refresh": True}
        status, payload = self._request("POST", path, body=body)
        payload = self._check("POST", path, status, payload, token_used=False)
        if not isinstance(payload, dict) or not isinstance(payload.get("access_token"), str):
            raise ServerUnavailable(f"POST {path}: no access_token in the answer")
        refresh = payload.get("refresh_token")
        return Tokens(payload["access_token"], refresh if isinstance(refresh, str) else None)

    def connect(self, username: str, password: str, device_name: str) -> str:
        """Exchange the login and password, once, for this device's token (AuthError: wrong login/password)."""
        path = "/api/v1/agent/connect"
        body = {"username": username, "password": password, "device_name": device_name}
        status, payload = self._request("POST", path, body=body)
        if status == 429:
            raise AuthError(f"POST {path}: {self._describe(status, payload)}")
        payload = self._check("POST", path, status, payload, token_used=False)
        if not isinstance(payload, dict) or not isinstance(payload.get("token"), str):
            raise ServerUnavailable(f"POST {path}: no token in the answer")
        return payload["token"]

    def refresh(self, refresh_token: str) -> str:
        path = "/api/v1/security/refresh"
        status, payload = self._request("POST", path, token=refresh_token)
        payload = self._check("POST", path, status, payload, token_used=True)
        if not isinstance(payload, dict) or not isinstance(payload.get("access_token"), str):
            raise ServerUnavailable(f"POST {path}: no access_token in the answer")
        return payload["access_token"]

    def events(self, access_token: str, after: str | None) -> Page:
        path = "/api/v1/agent/events"
        if after is not None:
            path += "?" + urlencode({"after": after})
        status, payload = self._request("GET", path, token=access_token)
        if status == 400:
            raise BadCursor(f"GET {path}: {self._describe(status, payload)}")
        payload = self._check("GET", path, status, payload, token_used=True)
        if (
            not isinstance(payload, dict)
            or not isinstance(payload.get("events"), list)
            or not isinstance(payload.get("cursor"), str)
        ):
            raise ServerUnavailable(f"GET {path}: answer without events/cursor")
        events: list[Event] = []
        for item in payload["events"]:
            try:
                events.append(Event.from_json(item))
            except ValueError as exc:
                log.error("skipping an unreadable event: %s", exc)
        info = payload.get("agent") if isinstance(payload.get("agent"), dict) else {}
        return Page(
            events=events,
            cursor=payload["cursor"],
            received=len(payload["events"]),
            latest_version=str(info["version"]) if info.get("version") else None,
            outdated=info.get("outdated") is True,
            download=str(info.get("download") or ""),
        )

    def get_settings(self, access_token: str) -> Settings:
        path = "/api/v1/agent/settings"
        status, payload = self._request("GET", path, token=access_token)
        return Settings.from_json(self._check("GET", path, status, payload, token_used=True))

    def put_settings(self, access_token: str, settings: Settings) -> Settings:
        path = "/api/v1/agent/settings"
        status, payload = self._request("PUT", path, token=access_token, body=settings.to_json())
        if status in (400, 422) and isinstance(payload, dict) and "message" in payload:
            raise ValueError(str(payload["message"])[:500])
        payload = self._check("PUT", path, status, payload, token_used=True)
        if isinstance(payload, dict) and isinstance(payload.get("kinds"), dict):
            return Settings.from_json(payload)
        return self.get_settings(access_token)


class TokenSession:
    """The Agent's way in: the device token from /connect, read from its store when first needed.

    A refused token is final (DeviceRevoked): there is no password to log in again with, by design.
    """

    def __init__(self, client: Client, username: str, token: Callable[[], str | None]) -> None:
        self.client = client
        self.username = username
        self._token_source = token
        self._token: str | None = None

    def call(self, request: Callable[[str], T]) -> T:
        if self._token is None:
            self._token = self._token_source()
            if not self._token:
                raise PasswordMissing(f"no device token stored for {self.username}")
        try:
            return request(self._token)
        except AuthError as exc:
            self._token = None
            raise DeviceRevoked(f"the server refused the device token of {self.username}: {exc}") from exc


class AuthSession:
    """For API scripts that log in with a password (the Agent itself uses TokenSession).

    Keeps the tokens and applies the order: access token → refresh → log in again → PasswordChanged.

    ``password`` is asked for only when a login is needed, so the keyring is read as rarely as possible.
    """

    def __init__(self, client: Client, username: str, password: Callable[[], str | None]) -> None:
        self.client = client
        self.username = username
        self._password = password
        self._access: str | None = None
        self._refresh: str | None = None

    def login(self) -> None:
        password = self._password()
        if password is None:
            raise PasswordMissing(f"no password stored for {self.username}")
        try:
            tokens = self.client.login(self.username, password)
        except AuthError as exc:
            raise PasswordChanged(f"login of {self.username} refused: {exc}") from exc
        self._access, self._refresh = tokens.access_token, tokens.refresh_token
        log.info("logged in to %s as %s", self.client.server, self.username)

    def _try_refresh(self) -> bool:
        if not self._refresh:
            return False
        try:
            self._access = self.client.refresh(self._refresh)
        except AuthError as exc:
            log.info("refresh token refused (%s); logging in again", exc)
            self._access = self._refresh = None
            return False
        log.info("access token refreshed")
        return True

    def call(self, request: Callable[[str], T]) -> T:
        """Run ``request(access_token)``, renewing the token at most once by refresh and once by a new login."""
        if self._access is None:
            self.login()
            assert self._access is not None
        try:
            return request(self._access)
        except AuthError as exc:
            log.info("access token refused (%s)", exc)
        if self._try_refresh():
            try:
                return request(self._access)
            except AuthError as exc:
                log.info("refreshed access token refused too (%s); logging in again", exc)
        self.login()
        try:
            return request(self._access)
        except AuthError as exc:
            # Not the password (login just worked): the server refuses its own fresh token. Retry later.
            self._access = None
            raise ServerUnavailable(f"the server refuses a freshly issued token: {exc}") from exc
