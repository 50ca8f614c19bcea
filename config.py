"""Configuration: the one place that reads environment variables (12-factor)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("INSTANCE_DIR", BASE_DIR / "instance")).resolve()


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _instance_secret_key() -> str:
    """A per-installation key kept under instance/, so the embedded default needs no setup
    and sessions survive a restart; production must set SECRET_KEY itself."""
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    key_file = INSTANCE_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(48))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def _validate_password(password: str) -> None:
    from app.passwords import validate_password

    validate_password(password)


def database_url() -> str:
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{INSTANCE_DIR / 'zaptrade.db'}"
    # Heroku-style URLs name the driver-less scheme; SQLAlchemy wants the psycopg 3 driver.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


class Config:
    """Settings for every environment; values come from the environment or safe defaults."""

    CRM_ENV = os.environ.get("CRM_ENV", "development")
    SECRET_KEY = os.environ.get("SECRET_KEY") or None
    SQLALCHEMY_DATABASE_URI = database_url()
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

    APP_NAME = "ZapTrade CRM"
    APP_THEME = ""
    FAB_CREATE_DB = False  # the schema belongs to the migrations
    FAB_UPDATE_PERMS = False  # permissions are synced by `flask crm init`, not at every start
    FAB_ADD_SECURITY_API = True
    FAB_API_SWAGGER_UI = True
    FAB_SECURITY_MANAGER_CLASS = "app.security.CrmSecurityManager"
    FAB_BASE_TEMPLATE = "crm_base.html"
    FAB_INDEX_VIEW = "app.views.index.CrmIndexView"
    AUTH_TYPE = 1  # AUTH_DB
    AUTH_ROLE_ADMIN = "Admin"
    AUTH_ROLE_PUBLIC = "Public"
    AUTH_USER_REGISTRATION = False
    FAB_PASSWORD_COMPLEXITY_ENABLED = True
    FAB_PASSWORD_COMPLEXITY_VALIDATOR = staticmethod(lambda password: _validate_password(password))
    # Authentication (app/auth.py, wired in app/security.py). Failed logins allowed per client IP and
    # login name, on the form and the API alike, before both answer 429 (a flask-limiter string).
    LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per 5 minutes")
    # Where the counts live; empty means REDIS_URL, so every gunicorn worker shares them.
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "")
    FAB_ROLES = {
        # Managers work with the client base; access to individual records is decided by
        # app/access.py, not by these view permissions.
        "Manager": [
            [
                r"(OrganizationView|ContactView|RequestView|OrganizationRequestsView|CrmIndexView"
                r"|RemindersView|AgentSettingsView|BoardView|ReportsView|ImportView)",
                r"can_.*",
            ],
            [r"(OrganizationApi|ContactApi|RequestApi|CatalogueApi|ReminderApi|AgentApi)", r"can_.*"],
            [r"(Organizations|Contacts|Client base|Requests|Board|Import|Reports)", "menu_access"],
            [r"(UserInfoEditView|ResetMyPasswordView)", r"can_.*"],
            [r"(UserDBModelView)", r"can_userinfo"],
            [r"(UserDBModelView)", r"resetmypassword"],
            [r"(MenuApi|OpenApi|SwaggerView)", r"can_.*"],
        ],
    }

    WTF_CSRF_ENABLED = True
    WTF_CSRF_TIME_LIMIT = None
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    PERMANENT_SESSION_LIFETIME = int(os.environ.get("SESSION_LIFETIME_SECONDS", 8 * 3600))

    BABEL_DEFAULT_LOCALE = os.environ.get("DEFAULT_LOCALE", "ru")
    BABEL_DEFAULT_FOLDER = str(BASE_DIR / "translations")
    BABEL_TRANSLATION_DIRECTORIES = str(BASE_DIR / "translations")
    LANGUAGES = {
        "ru": {"flag": "ru", "name": "Русский"},
        "en": {"flag": "gb", "name": "English"},
    }
    DEFAULT_TIMEZONE = os.environ.get("DEFAULT_TIMEZONE", "Europe/Moscow")

    UPLOAD_FOLDER = os.environ.get("UPLOAD_FOLDER", str(INSTANCE_DIR / "uploads"))
    MAX_CONTENT_LENGTH = int(os.environ.get("MAX_UPLOAD_MB", 20)) * 1024 * 1024
    # Excel import and export (app/spreadsheets/): the most rows one export writes.
    EXPORT_MAX_ROWS = int(os.environ.get("EXPORT_MAX_ROWS", 100_000))

    # Unset: no company mail server yet; reminders then reach the Agent and «Мои напоминания» only.
    MAIL_SERVER = os.environ.get("MAIL_SERVER") or None
    MAIL_PORT = int(os.environ.get("MAIL_PORT", 25))
    MAIL_USE_TLS = _env_bool("MAIL_USE_TLS", False)
    MAIL_USE_SSL = _env_bool("MAIL_USE_SSL", False)
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME") or None
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD") or None
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "crm@localhost")

    SCHEDULER_INTERVAL = float(os.environ.get("SCHEDULER_INTERVAL", 5))
    REMINDER_SWEEP_SECONDS = int(os.environ.get("REMINDER_SWEEP_SECONDS", 10))
    REMINDER_SWEEP_BATCH = 10000
    REMINDER_SEND_BATCH = int(os.environ.get("REMINDER_SEND_BATCH", 50))  # e-mails per job and SMTP connection
    # A reminder stuck in "sending" this long (its worker died) is taken over by another.
    REMINDER_CLAIM_LEASE_SECONDS = int(os.environ.get("REMINDER_CLAIM_LEASE_SECONDS", 120))
    # Waits between e-mail attempts; after the last one the reminder shows as failed (about 2 hours).
    REMINDER_RETRY_DELAYS = [
        float(s) for s in os.environ.get("REMINDER_RETRY_DELAYS", "30,60,120,300,600,900,1800,1800,1800").split(",")
    ]
    # The site's address as users reach it; unset, the address actually served is used (the
    # request's own, or SERVED_URL, which `make run` exports to its processes).
    PUBLIC_URL = os.environ.get("PUBLIC_URL", "")
    SERVED_URL = os.environ.get("SERVED_URL", "http://127.0.0.1:5000")
    # /health: a worker or scheduler silent this long is dead; a reminder due and unsent this long is late.
    HEALTH_HEARTBEAT_SECONDS = int(os.environ.get("HEALTH_HEARTBEAT_SECONDS", 60))
    HEALTH_REMINDER_LATE_SECONDS = int(os.environ.get("HEALTH_REMINDER_LATE_SECONDS", 120))
    # While reminders wait for an e-mail retry, the sweep checks this often whether SMTP is back.
    SMTP_PROBE_SECONDS = int(os.environ.get("SMTP_PROBE_SECONDS", 10))
    # The stalled radar (app/domain/activity.py): days without activity before an open request is
    # stalled; whether its responsible then gets one reminder; how often the radar job looks.
    STALLED_AFTER_DAYS = int(os.environ.get("STALLED_AFTER_DAYS", 14))
    STALLED_RADAR_REMINDERS = _env_bool("STALLED_RADAR_REMINDERS", False)
    STALLED_RADAR_SECONDS = int(os.environ.get("STALLED_RADAR_SECONDS", 600))

    # Backups (app/backup/): archives of the database and the uploads, one per night at BACKUP_HOUR
    # (local time, DEFAULT_TIMEZONE), the newest BACKUP_KEEP kept; /health fails when the last one
    # failed or the last good one is older than BACKUP_MAX_AGE_HOURS.
    BACKUP_ENABLED = _env_bool("BACKUP_ENABLED", True)
    BACKUP_FOLDER = os.environ.get("BACKUP_FOLDER", str(INSTANCE_DIR / "backups"))
    BACKUP_KEEP = int(os.environ.get("BACKUP_KEEP", 14))
    BACKUP_HOUR = int(os.environ.get("BACKUP_HOUR", 3))
    BACKUP_MAX_AGE_HOURS = float(os.environ.get("BACKUP_MAX_AGE_HOURS", 48))
    BACKUP_CHECK_SECONDS = int(os.environ.get("BACKUP_CHECK_SECONDS", 600))  # how often the schedule looks
    BACKUP_TIMEOUT_SECONDS = int(os.environ.get("BACKUP_TIMEOUT_SECONDS", 4 * 3600))
    # Currencies a request may be priced in; the administrator adds more with
    # CRM_EXTRA_CURRENCIES="KZT,BYN" (three-letter ISO 4217 codes).
    CURRENCIES = ["RUB", "USD", "EUR", "CNY"] + [
        code.strip().upper() for code in os.environ.get("CRM_EXTRA_CURRENCIES", "").split(",") if code.strip()
    ]

    @classmethod
    def finalize(cls, settings: dict) -> None:
        """Fill what depends on the environment kind; refuse unsafe production settings."""
        if settings["CRM_ENV"] == "production":
            key = settings.get("SECRET_KEY") or ""
            if len(key) < 32:
                raise RuntimeError("SECRET_KEY must be set to at least 32 random characters in production")
        elif not settings.get("SECRET_KEY"):
            settings["SECRET_KEY"] = _instance_secret_key()


class TestConfig(Config):
    """The suite's settings: the same stack as production, CSRF included."""

    TESTING = True
    SECRET_KEY = "test-secret-key-that-is-long-enough-to-be-accepted-0123456789"
    BACKUP_ENABLED = False  # tests/test_backup.py turns it on with a folder of its own
