"""How values look on the page: times in the user's zone, money with its currency."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import current_app, g, has_request_context


def user_timezone() -> ZoneInfo:
    """The logged-in user's zone, else the company's."""
    user = getattr(g, "user", None) if has_request_context() else None
    return ZoneInfo(getattr(user, "timezone", None) or current_app.config["DEFAULT_TIMEZONE"])


def local_datetime(value: datetime | None, pattern: str = "%d.%m.%Y %H:%M") -> str:
    """A stored UTC time in the user's zone (SQLite hands back naive UTC values)."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(user_timezone()).strftime(pattern)


def local_date(value: date | None) -> str:
    return value.strftime("%d.%m.%Y") if value else ""


def money(value: Decimal | None, currency: str | None = "RUB") -> str:
    if value is None:
        return ""
    whole = f"{value:,.2f}".replace(",", "\u00a0").replace(".", ",")
    symbol = {"RUB": "₽", "USD": "$", "EUR": "€", "CNY": "¥"}.get(currency or "RUB", currency or "")
    return f"{whole}\u00a0{symbol}"


def file_size(size: int) -> str:
    for unit in ("B", "KB", "MB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def register(app) -> None:
    app.add_template_filter(local_datetime)
    app.add_template_filter(local_date)
    app.add_template_filter(money)
    app.add_template_filter(file_size)
