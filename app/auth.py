"""Login hardening on top of FAB's database authentication.

Failed logins are counted per client IP and login name in shared storage (Redis), for the HTML form
and the API alike; no redirect of any page ever leaves the site (`local_redirect_target` is the one
check); a session or JWT carries a keyed fingerprint of the account, so a password change or
deactivation ends what was issued before, and a logout revokes its session id server-side, so a
copy of the cookie is worthless afterwards. The wiring is in app/security.py.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
import time
import unicodedata
from fnmatch import fnmatch
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from flask import Flask, Response, current_app, flash, make_response, redirect, request, session
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from flask_appbuilder.api import safe
from flask_appbuilder.security import api as fab_api
from flask_appbuilder.security import views as fab_views
from flask_appbuilder.security.decorators import no_cache
from flask_appbuilder.security.forms import LoginForm_db
from flask_appbuilder.views import expose
from flask_babel import gettext as _
from limits import parse
from limits.storage import MemoryStorage, Storage
from limits.strategies import MovingWindowRateLimiter
from redis.exceptions import RedisError

from app.extensions import redis_connection

log = logging.getLogger(__name__)

# Session key of the account fingerprint, and its name as a JWT claim.
SESSION_FINGERPRINT_KEY = "_crm_account"
JWT_FINGERPRINT_CLAIM = "crm_account"
# Session key of the login's random id; a logout lists it as revoked in Redis.
SESSION_ID_KEY = "_crm_session"
_REVOKED_PREFIX = "crm:session-revoked:"
# flask-login's own session keys, dropped when a session no longer matches its account.
_LOGIN_SESSION_KEYS = ("_user_id", "_fresh", "_id", "_remember_seconds", SESSION_FINGERPRINT_KEY, SESSION_ID_KEY)
_REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})


class LoginThrottle:
    """Failed logins per (client IP, login name) within LOGIN_RATE_LIMIT, in a moving window.

    Keyed by IP *and* name, so one user's mistakes never lock out a colleague behind the same NAT.
    Counts live in the limiter's storage (Redis) so every gunicorn worker sees the same numbers;
    if that storage fails, an in-process count takes over rather than opening the door or locking
    everyone out.
    """

    NAMESPACE = "crm-login"

    def __init__(self, limit: str, storage: Storage) -> None:
        self.limit = parse(limit)
        self._shared = MovingWindowRateLimiter(storage)
        self._storage_errors = storage.base_exceptions
        self._local = MovingWindowRateLimiter(MemoryStorage())

    def _identifiers(self, ip: str | None, username: str | None) -> tuple[str, str, str]:
        # Hashed: the name is free text (any length, any characters) and need not sit in Redis in clear.
        name = hashlib.sha256((username or "").strip().casefold().encode()).hexdigest()[:32]
        return self.NAMESPACE, ip or "unknown", name

    def _run(self, method: str, ip: str | None, username: str | None) -> Any:
        identifiers = self._identifiers(ip, username)
        try:
            return getattr(self._shared, method)(self.limit, *identifiers)
        except self._storage_errors as error:
            log.warning("login counter storage failed (%s); counting in this process only", error)
            return getattr(self._local, method)(self.limit, *identifiers)

    def retry_after(self, ip: str | None, username: str | None) -> int:
        """Seconds until this IP may try this name again; 0 when it may try now."""
        if self._run("test", ip, username):
            return 0
        stats = self._run("get_window_stats", ip, username)
        return max(1, math.ceil(stats.reset_time - time.time()))

    def failed(self, ip: str | None, username: str | None) -> None:
        self._run("hit", ip, username)

    def succeeded(self, ip: str | None, username: str | None) -> None:
        """A correct password forgives earlier typos from the same place."""
        self._run("clear", ip, username)


def login_throttle() -> LoginThrottle:
    return current_app.extensions["crm_login_throttle"]


def throttled_message(retry_after: int) -> str:
    return _(
        "Too many failed login attempts. Try again in %(minutes)s min.",
        minutes=max(1, math.ceil(retry_after / 60)),
    )


def account_fingerprint(user: Any) -> str:
    """HMAC (keyed with SECRET_KEY) of the password hash and active flag: changes when either does.

    Keyed because a session cookie and a JWT are readable by their holder: the value must not
    let anyone test password guesses offline.
    """
    material = f"{user.id}\0{user.password or ''}\0{int(bool(user.active))}".encode()
    return hmac.new(current_app.config["SECRET_KEY"].encode(), material, hashlib.sha256).hexdigest()[:32]


def fingerprint_matches(value: object, user: Any) -> bool:
    return isinstance(value, str) and hmac.compare_digest(value, account_fingerprint(user))


def start_session(_sender: object, user: Any, **_extra: object) -> None:
    """flask-login's user_logged_in: bind the session to the account, give it an id, make it expire."""
    session.permanent = True
    session[SESSION_FINGERPRINT_KEY] = account_fingerprint(user)
    session[SESSION_ID_KEY] = secrets.token_urlsafe(18)


def end_session(_sender: object, **_extra: object) -> None:
    """flask-login's user_logged_out: revoke this session's id, so a saved copy of the cookie (the
    cookie is signed, not stored: the server cannot delete it) no longer logs anyone in.

    Kept in Redis for the session's lifetime, after which the cookie has expired anyway; other
    browsers of the same user keep their own sessions.
    """
    session.pop(SESSION_FINGERPRINT_KEY, None)
    session_id = session.pop(SESSION_ID_KEY, None)
    if not isinstance(session_id, str):
        return
    lifetime = int(current_app.permanent_session_lifetime.total_seconds())
    try:
        redis_connection().set(_REVOKED_PREFIX + session_id, 1, ex=max(lifetime, 1))
    except RedisError as error:
        log.error("logout could not revoke its session in Redis (%s): a copied cookie stays valid", error)


def session_revoked(session_id: object) -> bool:
    """Whether the session's id was ended by a logout (a session without an id predates them).

    With Redis unreachable the session is kept (logged): logging every user out on a Redis hiccup
    would be worse than a copied cookie living until it expires.
    """
    if not isinstance(session_id, str):
        return True
    try:
        return bool(redis_connection().exists(_REVOKED_PREFIX + session_id))
    except RedisError as error:
        log.warning("cannot check session revocation in Redis (%s); session kept", error)
        return False


class PageSessionInterface(SecureCookieSessionInterface):
    """The signed-cookie session, re-sent with pages and API answers but never with static files.

    A login session is permanent, so Flask refreshes its cookie on every response. A browser
    fetches a page's icon and fonts while the user already clicks on: such a file answered after
    the next page's redirect would put back the cookie it was sent with, and the message flashed
    for that next page ("this is a colleague's client") would be lost.
    """

    def should_set_cookie(self, app: Flask, session: SessionMixin) -> bool:
        endpoint = request.endpoint or ""
        if endpoint == "static" or endpoint.endswith(".static"):
            return False
        return super().should_set_cookie(app, session)


def session_ended_message() -> str:
    return _("Your session has ended because your password or account changed. Please log in again.")


def drop_stale_session(explain: bool = True) -> None:
    """Log out a session issued before its account's password or active flag changed (explained),
    or one ended by a logout (no message: its owner left himself)."""
    for key in _LOGIN_SESSION_KEYS:
        session.pop(key, None)
    if explain:
        flash(session_ended_message(), "warning")


def local_redirect_target(url: str | None) -> str | None:
    """`url` as a path on this site, or None when it could lead elsewhere.

    FAB's is_safe_redirect_url trusts the request's Host header (spoofable) and lets `/\\host`
    through (browsers read it as `//host`; only werkzeug's quoting of the Location header defuses it
    today). Here only a relative path survives; an absolute URL
    naming the requested host (FAB's own `next=request.url`) is reduced to its path, so even a
    spoofed Host cannot send the browser to another site.
    """
    if not url or "\\" in url or any(unicodedata.category(char)[0] in "CZ" for char in url):
        return None
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        if parts.scheme not in ("", "http", "https") or parts.netloc.lower() != request.host.lower():
            return None
        safe_hosts = current_app.config.get("FAB_SAFE_REDIRECT_HOSTS") or []
        if safe_hosts and not any(fnmatch(parts.netloc, pattern) for pattern in safe_hosts):
            return None
        url = urlunsplit(("", "", parts.path or "/", parts.query, parts.fragment))
    if not url.startswith("/") or url.startswith("//"):
        return None
    # Encoded variants (`/%2F/host`, `/%5Chost`): what the path becomes once decoded must pass too.
    path = url.split("?", 1)[0].split("#", 1)[0]
    for _round in range(3):
        decoded = unquote(path)
        if decoded == path:
            break
        path = decoded
    if path.startswith("//") or "\\" in path or any(unicodedata.category(char)[0] in "CZ" for char in path):
        return None
    return url


def safe_redirect_target(url: str | None, fallback: str) -> str:
    """Where a view may send the browser: `url` (a `next=`, a Referer) if it stays here, else `fallback`."""
    return local_redirect_target(url) or fallback


def keep_on_site(response: Response, index_url: str) -> Response:
    """Replace a redirect that could leave the site by one to the index."""
    if response.status_code not in _REDIRECT_CODES or not response.location:
        return response
    target = local_redirect_target(response.location)
    if target is None:
        log.warning("off-site redirect refused: %r", response.location)
        return redirect(index_url, code=response.status_code)
    if target != response.location:
        return redirect(target, code=response.status_code)
    return response


def secure_every_response(response: Response) -> Response:
    """after_request for the whole app: no redirect leaves the site, whichever view (ours or FAB's,
    e.g. UtilView.back with its session history) made it; no answer is sniffed into another type
    (a text or file download rendered as HTML)."""
    response = keep_on_site(response, current_app.appbuilder.get_url_for_index)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


class AuthDBView(fab_views.AuthDBView):
    """FAB's login form with the failed-login limit and an on-site redirect.

    Named like FAB's class so its endpoint (`AuthDBView.login`) and permission names stay the same.
    """

    @expose("/login/", methods=["GET", "POST"])
    @no_cache
    def login(self) -> Response:
        if request.method == "POST":
            retry_after = login_throttle().retry_after(request.remote_addr, request.form.get("username"))
            if retry_after:
                return self._throttled(retry_after)
        return keep_on_site(make_response(super().login()), self.appbuilder.get_url_for_index)

    def _throttled(self, retry_after: int) -> Response:
        flash(throttled_message(retry_after), "danger")
        page = self.render_template(
            self.login_template, title=self.title, form=LoginForm_db(), appbuilder=self.appbuilder
        )
        response = make_response(page, 429)
        response.headers["Retry-After"] = str(retry_after)
        return response


class SecurityApi(fab_api.SecurityApi):
    """FAB's security API whose login obeys the same failed-login limit as the form.

    Named like FAB's class so endpoints and permission names stay the same.
    """

    @expose("/login", methods=["POST"])
    @safe
    def login(self) -> Response:
        payload = request.get_json(silent=True)
        username = payload.get("username") if isinstance(payload, dict) else None
        if isinstance(username, str):
            retry_after = login_throttle().retry_after(request.remote_addr, username)
            if retry_after:
                response = self.response(429, message=throttled_message(retry_after))
                response.headers["Retry-After"] = str(retry_after)
                return response
        return super().login()

    # FAB builds the OpenAPI description from the docstring.
    login.__doc__ = fab_api.SecurityApi.login.__doc__
