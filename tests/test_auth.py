"""Logging in: guessing is slowed down, nothing reveals which logins exist, `next=` stays on the site,
a changed password or a disabled account ends what was issued before, sessions expire, and passwords
follow the rules. Against the real app, database and Redis (conftest)."""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from limits import parse
from limits.storage import storage_from_string
from redis import Redis
from sqlalchemy import select
from werkzeug.test import TestResponse

from app import accounts
from app.auth import LoginThrottle, session_ended_message, throttled_message
from app.extensions import db
from app.models.users import CrmUser
from config import Config
from tests.conftest import PASSWORD, csrf_token, login
from tests.factories import make_organization, make_request

NEW_PASSWORD = "violet-harbour-lantern"
_addresses = itertools.count(1)


def fresh_ip() -> str:
    """A client address no other test used, so counts never leak between tests."""
    number = next(_addresses)
    return f"10.77.{number // 250}.{number % 250 + 1}"


@pytest.fixture(autouse=True)
def _forget_failed_logins(app: Flask) -> Iterator[None]:
    """Failure counts live in Redis for minutes: start and leave every test with none."""
    redis = Redis.from_url(app.config["RATELIMIT_STORAGE_URI"] or app.config["REDIS_URL"])

    def forget() -> None:
        for key in redis.scan_iter(match=f"*/{LoginThrottle.NAMESPACE}/*"):
            redis.delete(key)

    forget()
    yield
    forget()


@pytest.fixture
def colleague(app: Flask) -> Iterator[str]:
    """A manager of his own, so tests may change his password or disable him."""
    username = f"kozlov{next(_addresses)}"
    with app.app_context():
        accounts.create_manager(username, PASSWORD, f"{username}@example.ru", "Олег", "Козлов")
    yield username
    with app.app_context():
        user = _user(username)
        if user is not None:
            db.session.delete(user)
            db.session.commit()


def _user(username: str) -> CrmUser | None:
    return db.session.scalars(select(CrmUser).where(CrmUser.username == username)).one_or_none()


def _user_id(app: Flask, username: str) -> int:
    with app.app_context():
        return _user(username).id


def limit_amount(app: Flask) -> int:
    return parse(app.config["LOGIN_RATE_LIMIT"]).amount


def form_login(
    client: FlaskClient, username: str, password: str, ip: str = "127.0.0.1", next_url: str = ""
) -> TestResponse:
    token = csrf_token(client, "/login/")
    return client.post(
        "/login/",
        query_string={"next": next_url} if next_url else None,
        data={"username": username, "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": ip},
    )


def api_login(
    client: FlaskClient, username: str, password: str, ip: str = "127.0.0.1", refresh: bool = False
) -> TestResponse:
    body = {"username": username, "password": password, "provider": "db", "refresh": refresh}
    return client.post("/api/v1/security/login", json=body, environ_base={"REMOTE_ADDR": ip})


def pop_flashes(client: FlaskClient) -> list[tuple[str, str]]:
    with client.session_transaction() as session:
        return list(session.pop("_flashes", []))


def expected_text(app: Flask, make: Callable[[], object]) -> str:
    """The message as the app renders it for a visitor with the default language (Russian)."""
    with app.test_request_context():
        return str(make())


# --- 1. Guessing passwords is slowed down -------------------------------------------------------


def test_a_manager_who_mistypes_his_password_too_often_is_stopped_with_429_on_the_form(app, client):
    ip = fresh_ip()
    for _ in range(limit_amount(app)):
        assert form_login(client, "ivanov", "wrong-password", ip).status_code == 302
    pop_flashes(client)

    answer = form_login(client, "ivanov", PASSWORD, ip)  # even the right password waits now

    assert answer.status_code == 429
    retry_after = int(answer.headers["Retry-After"])
    assert 0 < retry_after <= parse(app.config["LOGIN_RATE_LIMIT"]).get_expiry()
    assert expected_text(app, lambda: throttled_message(retry_after)) in answer.get_data(as_text=True)
    assert 'name="username"' in answer.get_data(as_text=True)  # the form is still there
    with client.session_transaction() as session:
        assert "_user_id" not in session


def test_the_api_login_is_stopped_after_the_same_number_of_failures_with_a_json_message(app, client):
    ip = fresh_ip()
    for _ in range(limit_amount(app)):
        assert api_login(client, "ivanov", "wrong-password", ip).status_code == 401

    answer = api_login(client, "ivanov", PASSWORD, ip)

    assert answer.status_code == 429
    retry_after = int(answer.headers["Retry-After"])
    assert answer.get_json() == {"message": expected_text(app, lambda: throttled_message(retry_after))}


def test_form_and_api_failures_count_together_and_another_worker_sees_them(app, client):
    ip = fresh_ip()
    half = limit_amount(app) // 2
    for _ in range(half):
        form_login(client, "petrova", "wrong-password", ip)
    for _ in range(limit_amount(app) - half):
        api_login(client, "petrova", "wrong-password", ip)

    assert api_login(client, "petrova", PASSWORD, ip).status_code == 429
    assert form_login(client, "petrova", PASSWORD, ip).status_code == 429
    # A second gunicorn worker has its own connection to the same Redis and sees the same count.
    other_worker = LoginThrottle(app.config["LOGIN_RATE_LIMIT"], storage_from_string(app.config["REDIS_URL"]))
    assert other_worker.retry_after(ip, "petrova") > 0
    assert other_worker.retry_after(ip, "PETROVA ") > 0  # the login name is compared as FAB compares it


def test_one_managers_failures_block_neither_a_colleague_at_the_same_address_nor_himself_elsewhere(app, client):
    office = fresh_ip()
    for _ in range(limit_amount(app)):
        form_login(client, "sidorov", "wrong-password", office)
    assert form_login(client, "sidorov", PASSWORD, office).status_code == 429
    pop_flashes(client)

    colleague_answer = form_login(client, "ivanov", PASSWORD, office)
    assert colleague_answer.status_code == 302 and "/login" not in colleague_answer.headers["Location"]
    assert api_login(app.test_client(), "ivanov", PASSWORD, office).status_code == 200
    assert api_login(app.test_client(), "sidorov", PASSWORD, fresh_ip()).status_code == 200


def test_a_successful_login_forgives_earlier_typos(app):
    ip = fresh_ip()
    for _ in range(limit_amount(app) - 1):
        api_login(app.test_client(), "ivanov", "wrong-password", ip)
    assert api_login(app.test_client(), "ivanov", PASSWORD, ip).status_code == 200

    for _ in range(limit_amount(app) - 1):
        api_login(app.test_client(), "ivanov", "wrong-password", ip)
    assert api_login(app.test_client(), "ivanov", PASSWORD, ip).status_code == 200


def test_with_redis_down_failures_are_still_counted_inside_the_process(caplog):
    unreachable = storage_from_string("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    throttle = LoginThrottle("3 per 5 minutes", unreachable)
    ip = fresh_ip()

    assert throttle.retry_after(ip, "ivanov") == 0
    for _ in range(3):
        throttle.failed(ip, "ivanov")

    assert throttle.retry_after(ip, "ivanov") > 0
    assert throttle.retry_after(ip, "petrova") == 0
    assert "counting in this process only" in caplog.text


def test_the_block_message_follows_the_users_language(app, client):
    client.get("/lang/en")
    ip = fresh_ip()
    for _ in range(limit_amount(app)):
        form_login(client, "ivanov", "wrong-password", ip)
    pop_flashes(client)

    answer = form_login(client, "ivanov", PASSWORD, ip)

    assert answer.status_code == 429
    minutes = math.ceil(int(answer.headers["Retry-After"]) / 60)
    assert f"Too many failed login attempts. Try again in {minutes} min." in answer.get_data(as_text=True)


# --- 2. Nothing tells which logins exist or are disabled ------------------------------------------


def _disable(app: Flask, username: str) -> None:
    with app.app_context():
        _user(username).active = False
        db.session.commit()


def test_a_disabled_manager_an_unknown_login_and_a_wrong_password_get_the_same_answer_on_the_form(
    app, client, colleague
):
    _disable(app, colleague)
    answers = []
    for username, password in [(colleague, PASSWORD), ("nobody-here", PASSWORD), ("ivanov", "wrong-password")]:
        answer = form_login(client, username, password, fresh_ip(), next_url="/organizationview/list/")
        answers.append((answer.status_code, answer.headers["Location"], pop_flashes(client)))

    assert answers[0] == answers[1] == answers[2]
    status, location, flashes = answers[0]
    assert status == 302 and location.startswith("/login/")
    assert flashes == [("warning", expected_text(app, lambda: app.appbuilder.sm.auth_view.invalid_login_message))]


def test_a_disabled_manager_an_unknown_login_and_a_wrong_password_get_the_same_answer_from_the_api(
    app, client, colleague
):
    _disable(app, colleague)
    answers = []
    for username, password in [(colleague, PASSWORD), ("nobody-here", PASSWORD), ("ivanov", "wrong-password")]:
        answer = api_login(client, username, password, fresh_ip())
        answers.append((answer.status_code, answer.get_data()))

    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == 401


# --- 3. `next=` never leads off the site ------------------------------------------------------------


@pytest.mark.parametrize(
    "next_url",
    [
        "//evil.example",
        "https://evil.example",
        "/\\evil.example",
        "http://127.0.0.1.evil.example/",
        "javascript:alert(1)",
    ],
)
def test_after_login_next_pointing_elsewhere_lands_on_the_index(app, client, next_url):
    answer = form_login(client, "ivanov", PASSWORD, next_url=next_url)
    assert (answer.status_code, answer.headers["Location"]) == (302, "/")

    # Already logged in, the login page redirects at once: to the index as well.
    again = client.get("/login/", query_string={"next": next_url})
    assert (again.status_code, again.headers["Location"]) == (302, "/")


@pytest.mark.parametrize("next_url", ["//evil.example", "https://evil.example/", "http://evil.example/phishing"])
def test_a_spoofed_host_header_cannot_turn_next_into_an_off_site_redirect(app, next_url):
    """FAB trusts the Host header when FAB_SAFE_REDIRECT_HOSTS is empty; the answer must stay relative."""
    client = app.test_client()
    spoofed = "http://evil.example"
    page = client.get("/login/", base_url=spoofed)
    token = page.get_data(as_text=True).split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    answer = client.post(
        "/login/",
        query_string={"next": next_url},
        data={"username": "ivanov", "password": PASSWORD, "csrf_token": token},
        base_url=spoofed,
    )
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/") and not answer.headers["Location"].startswith("//")
    assert answer.headers["Location"] in ("/", "/phishing")  # a path on the site the browser is really on


def test_next_within_the_site_is_kept(app, client):
    answer = form_login(client, "ivanov", PASSWORD, next_url="/organizationview/list/")
    assert answer.headers["Location"] == "/organizationview/list/"

    # FAB sends a logged-out visitor to the login with next=request.url (absolute): he gets his page back.
    other = app.test_client()
    bounced = other.get("/organizationview/list/?psize_OrganizationView=25")
    assert bounced.status_code == 302 and "/login/" in bounced.headers["Location"]
    token = csrf_token(other, bounced.headers["Location"])
    answer = other.post(
        bounced.headers["Location"], data={"username": "ivanov", "password": PASSWORD, "csrf_token": token}
    )
    assert answer.headers["Location"] == "/organizationview/list/?psize_OrganizationView=25"


# --- 4. A new password or a disabled account ends earlier sessions and tokens ----------------------


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _capture(app: Flask, username: str, password: str = PASSWORD) -> tuple[FlaskClient, str, str]:
    """Log in a browser and the API as the user; return the browser and the tokens."""
    browser = app.test_client()
    login(browser, username, password)
    tokens = api_login(app.test_client(), username, password, refresh=True).get_json()
    return browser, tokens["access_token"], tokens["refresh_token"]


def _replay_cookie(app: Flask, browser: FlaskClient) -> FlaskClient:
    """Another browser holding a copy of the session cookie as it is now."""
    copy = app.test_client()
    copy.set_cookie("session", browser.get_cookie("session").value)
    return copy


def _assert_everything_works(app: Flask, browser: FlaskClient, access: str, refresh: str) -> None:
    assert browser.get("/organizationview/list/").status_code == 200
    assert app.test_client().get("/api/v1/organization/", headers=_bearer(access)).status_code == 200
    assert app.test_client().post("/api/v1/security/refresh", headers=_bearer(refresh)).status_code == 200


def _assert_everything_refused(app: Flask, browser: FlaskClient, access: str, refresh: str) -> None:
    page = browser.get("/organizationview/list/")
    assert page.status_code == 302 and page.headers["Location"].startswith("/login/")
    with browser.session_transaction() as session:
        assert "_user_id" not in session
    assert expected_text(app, session_ended_message) in [message for _, message in pop_flashes(browser)]
    assert app.test_client().get("/api/v1/organization/", headers=_bearer(access)).status_code == 401
    assert app.test_client().post("/api/v1/security/refresh", headers=_bearer(refresh)).status_code == 401


def test_a_manager_who_changes_his_password_ends_his_other_sessions_and_tokens_but_keeps_this_one(app, colleague):
    browser, access, refresh = _capture(app, colleague)
    stolen_cookie = _replay_cookie(app, browser)
    _assert_everything_works(app, stolen_cookie, access, refresh)

    token = csrf_token(browser, "/resetmypassword/form")
    changed = browser.post(
        "/resetmypassword/form", data={"password": NEW_PASSWORD, "conf_password": NEW_PASSWORD, "csrf_token": token}
    )
    assert changed.status_code == 302

    assert browser.get("/organizationview/list/").status_code == 200  # the session that changed it
    _assert_everything_refused(app, stolen_cookie, access, refresh)
    assert api_login(app.test_client(), colleague, NEW_PASSWORD).status_code == 200


def test_an_administrators_password_reset_ends_the_managers_sessions_and_tokens(app, admin_client, colleague):
    browser, access, refresh = _capture(app, colleague)
    _assert_everything_works(app, browser, access, refresh)

    url = f"/resetpassword/form?pk={_user_id(app, colleague)}"
    token = csrf_token(admin_client, url)
    reset = admin_client.post(url, data={"password": NEW_PASSWORD, "conf_password": NEW_PASSWORD, "csrf_token": token})
    assert reset.status_code == 302

    _assert_everything_refused(app, browser, access, refresh)
    assert admin_client.get("/organizationview/list/").status_code == 200  # the admin's own session lives on


def test_disabling_an_account_ends_its_sessions_and_tokens(app, admin_client, colleague):
    browser, access, refresh = _capture(app, colleague)
    _assert_everything_works(app, browser, access, refresh)

    user_id = _user_id(app, colleague)
    with app.app_context():
        role_id = app.appbuilder.sm.find_role(accounts.MANAGER_ROLE).id
    url = f"/users/edit/{user_id}"
    token = csrf_token(admin_client, url)
    edited = admin_client.post(
        url,
        data={
            "first_name": "Олег",
            "last_name": "Козлов",
            "username": colleague,
            "email": f"{colleague}@example.ru",
            "roles": [str(role_id)],
            "record_scope": "own",
            "timezone": "",
            "csrf_token": token,
            # "active" left out: the box is unticked
        },
    )
    assert edited.status_code == 302
    with app.app_context():
        assert _user(colleague).active is False

    _assert_everything_refused(app, browser, access, refresh)


# --- 5. No production start with a weak SECRET_KEY ---------------------------------------------------


def _settings_of(config_class: type[Config]) -> dict:
    return {name: getattr(config_class, name) for name in dir(config_class) if name.isupper()}


@pytest.mark.parametrize("secret_key", [None, "", "short-key", "x" * 31])
def test_production_refuses_to_start_without_a_long_secret_key(secret_key):
    class ProductionConfig(Config):
        CRM_ENV = "production"
        SECRET_KEY = secret_key

    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        ProductionConfig.finalize(_settings_of(ProductionConfig))


def test_production_starts_with_a_long_secret_key():
    class ProductionConfig(Config):
        CRM_ENV = "production"
        SECRET_KEY = "k" * 48

    settings = _settings_of(ProductionConfig)
    ProductionConfig.finalize(settings)
    assert settings["SECRET_KEY"] == "k" * 48


# --- 6. Sessions expire ----------------------------------------------------------------------------------


def test_a_login_session_expires_after_the_configured_lifetime(app, client):
    login(client, "ivanov")

    cookie = client.get_cookie("session")
    assert cookie.expires is not None
    lifetime = app.permanent_session_lifetime.total_seconds()
    assert abs(cookie.expires.timestamp() - (time.time() + lifetime)) < 60


# --- 7. Password rules on the admin's and the user's forms --------------------------------------------

TOO_COMMON = "Этот пароль слишком распространён; выберите другой."
TOO_SHORT = "Пароль должен содержать не менее 10 символов."
# qwerty123 is common but also shorter than 10: the length rule answers first (app/passwords.py).
REFUSED_PASSWORDS = [("qwerty123", TOO_SHORT), ("Ab3$xy", TOO_SHORT), ("qwerty12345", TOO_COMMON)]


def _add_user(admin_client: FlaskClient, app: Flask, username: str, password: str):
    with app.app_context():
        role_id = app.appbuilder.sm.find_role(accounts.MANAGER_ROLE).id
    token = csrf_token(admin_client, "/users/add")
    return admin_client.post(
        "/users/add",
        data={
            "first_name": "Анна",
            "last_name": "Новикова",
            "username": username,
            "active": "y",
            "email": f"{username}@example.ru",
            "roles": [str(role_id)],
            "password": password,
            "conf_password": password,
            "record_scope": "own",
            "timezone": "",
            "csrf_token": token,
        },
    )


@pytest.mark.parametrize(("password", "message"), REFUSED_PASSWORDS)
def test_the_administrator_cannot_create_a_user_with_a_common_or_short_password(app, admin_client, password, message):
    answer = _add_user(admin_client, app, "novikova", password)

    assert answer.status_code == 200
    assert message in answer.get_data(as_text=True)
    with app.app_context():
        assert _user("novikova") is None


def test_the_administrator_creates_a_user_with_a_long_uncommon_password(app, admin_client):
    answer = _add_user(admin_client, app, "novikova", "tide-oak-191")
    try:
        assert answer.status_code == 302
        assert api_login(app.test_client(), "novikova", "tide-oak-191").status_code == 200
    finally:
        with app.app_context():
            user = _user("novikova")
            if user is not None:
                db.session.delete(user)
                db.session.commit()


@pytest.mark.parametrize(("password", "message"), REFUSED_PASSWORDS)
def test_a_manager_cannot_change_his_password_to_a_common_or_short_one(app, client, colleague, password, message):
    login(client, colleague)
    token = csrf_token(client, "/resetmypassword/form")
    answer = client.post(
        "/resetmypassword/form", data={"password": password, "conf_password": password, "csrf_token": token}
    )

    assert answer.status_code == 200
    assert message in answer.get_data(as_text=True)
    assert api_login(app.test_client(), colleague, PASSWORD).status_code == 200  # the old one still holds


def test_a_manager_changes_his_password_to_a_long_uncommon_one(app, client, colleague):
    login(client, colleague)
    token = csrf_token(client, "/resetmypassword/form")
    answer = client.post(
        "/resetmypassword/form", data={"password": "tide-oak-191", "conf_password": "tide-oak-191", "csrf_token": token}
    )

    assert answer.status_code == 302
    assert api_login(app.test_client(), colleague, "tide-oak-191").status_code == 200
    assert api_login(app.test_client(), colleague, PASSWORD, fresh_ip()).status_code == 401


# --- 8. Every redirect stays on the site (issue: open redirect) ---------------------------------------

OFF_SITE_TARGETS = [
    "https://evil.example/",
    "http://evil.example/phishing",
    "//evil.example/",
    "///evil.example/",
    "/\\evil.example",
    "\\\\evil.example",
    "/%5Cevil.example",
    "%2F%2Fevil.example",
    "https:evil.example",
    "https:/\\evil.example",
    " //evil.example",
    "/\t/evil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
]


def _on_site(location: str) -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(location)
    return location.startswith("/") and not location.startswith("//") and "\\" not in location and not parts.netloc


@pytest.mark.parametrize("target", OFF_SITE_TARGETS)
def test_a_new_reminder_with_next_pointing_elsewhere_returns_to_the_reminders(app, client, target):
    login(client, "ivanov")
    token = csrf_token(client, "/reminders/new")
    answer = client.post(
        "/reminders/new",
        query_string={"next": target},
        data={"text": "позвонить", "preset": "in_an_hour", "csrf_token": token},
    )
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/reminders/", answer.headers["Location"]


def test_a_new_reminder_with_a_local_next_goes_there(app, client):
    login(client, "ivanov")
    token = csrf_token(client, "/reminders/new")
    answer = client.post(
        "/reminders/new",
        query_string={"next": "/organizationview/list/?q=ромашка"},
        data={"text": "позвонить", "preset": "in_an_hour", "csrf_token": token},
    )
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/organizationview/list/?q=")


@pytest.mark.parametrize("referer", ["https://evil.example/", "//evil.example/", "javascript:alert(1)"])
def test_marking_a_reminder_done_never_follows_a_foreign_referer(app, client, referer):
    from app.domain.reminders import create_reminder
    from app.models.stamps import utcnow

    login(client, "ivanov")
    with app.app_context():
        ivanov = db.session.scalars(select(CrmUser).where(CrmUser.username == "ivanov")).one()
        reminder = create_reminder(db.session, ivanov, "позвонить", utcnow())
        db.session.commit()
        pk = reminder.id
    token = csrf_token(client, "/reminders/")
    answer = client.post(f"/reminders/{pk}/done", data={"csrf_token": token}, headers={"Referer": referer})
    assert answer.status_code == 302 and answer.headers["Location"] == "/reminders/"
    same_site = client.post(
        f"/reminders/{pk}/done", data={"csrf_token": token}, headers={"Referer": "http://localhost/reminders/?x=1"}
    )
    assert same_site.headers["Location"] == "/reminders/?x=1"


@pytest.mark.parametrize("target", OFF_SITE_TARGETS)
def test_the_back_button_and_any_other_redirect_stay_on_the_site(app, client, target):
    """FAB's /back follows the page history kept in the session; whatever it holds, we stay here."""
    login(client, "ivanov")
    with client.session_transaction() as session:
        session["page_history"] = [target, target]
    answer = client.get("/back")
    assert answer.status_code == 302 and _on_site(answer.headers["Location"]), answer.headers["Location"]


# --- 9. Logging out ends the session on the server ------------------------------------------------------


def test_a_session_cookie_saved_before_logout_does_not_work_after_it(app, client):
    login(client, "ivanov")
    saved = _replay_cookie(app, client)
    assert saved.get("/organizationview/list/").status_code == 200
    assert client.get("/logout/").status_code == 302
    replayed = saved.get("/organizationview/list/")
    assert replayed.status_code == 302 and replayed.headers["Location"].startswith("/login/")
    # Logging in again gives a new session that works.
    login(client, "ivanov")
    assert client.get("/organizationview/list/").status_code == 200


def test_logging_out_in_one_browser_keeps_the_other_browsers_session(app):
    office, phone = app.test_client(), app.test_client()
    login(office, "ivanov")
    login(phone, "ivanov")
    office.get("/logout/")
    assert phone.get("/organizationview/list/").status_code == 200


def test_a_message_for_the_next_page_survives_an_icon_the_browser_fetched_late(app, client):
    """The browser still loads the last page's icon (sent with the cookie of then) when the user
    clicks on; its answer arriving after the click's redirect must not take the message back."""
    with app.app_context(), app.test_request_context():
        users = {u.username: u for u in db.session.scalars(select(CrmUser))}
        shared = make_organization("ООО «Общий завод»", responsible=users["sidorov"])
        make_request(shared, responsible=users["petrova"], author=users["petrova"])
        pk = shared.id
    login(client, "petrova")
    icon_fetch = _replay_cookie(app, client)  # started before the click, with the cookie of then
    refused = client.get(f"/organizationview/edit/{pk}")
    assert refused.status_code == 302
    icon = icon_fetch.get("/static/crm/favicon.svg")
    assert icon.status_code == 200
    assert "Set-Cookie" not in icon.headers
    page = client.get(refused.headers["Location"])
    assert "Это клиент коллеги" in page.get_data(as_text=True)


# --- 10. Downloads and pages are not sniffed into another type --------------------------------------------


def test_every_answer_forbids_content_sniffing(app, client):
    login(client, "ivanov")
    for url in ["/", "/organizationview/list/", "/health", "/api/v1/organization/", "/login/"]:
        assert client.get(url).headers.get("X-Content-Type-Options") == "nosniff", url
