"""How values look on the page: times in the user's zone, money with its currency."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import current_app, g, has_request_context
from markupsafe import Markup, escape


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
    app.add_template_filter(phone_links)
    app.add_template_filter(mail_link)


def phone_links(value: str | None) -> Markup:
    """Each number of a phones field as a tel: link, so a phone dials it with one tap."""
    if not value:
        return Markup("")
    links = []
    for number in re.split(r"[,;]", value):
        number = number.strip()
        if not number:
            continue
        dial = re.sub(r"[^\d+]", "", number.split(" доб")[0])
        links.append(f'<a href="tel:{escape(dial)}" class="crm-tel">{escape(number)}</a>' if dial else escape(number))
    return Markup(", ".join(str(link) for link in links))


def mail_link(value: str | None) -> Markup:
    return Markup(f'<a href="mailto:{escape(value)}" class="crm-mailto">{escape(value)}</a>') if value else Markup("")
