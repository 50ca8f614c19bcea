"""How values look on the page: times in the user's zone, money with its currency."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import current_app, g, has_request_context
from flask_babel import gettext as _
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
    if isinstance(value, datetime):
        return local_datetime(value)
    return value.strftime("%d.%m.%Y") if value else ""


def money(value: Decimal | None, currency: str | None = "RUB") -> str:
    if value is None:
        return ""
    whole = f"{value:,.2f}".replace(",", "\u00a0").replace(".", ",")
    symbol = {"RUB": "₽", "USD": "$", "EUR": "€", "CNY": "¥"}.get(currency or "RUB", currency or "")
    return f"{whole}\u00a0{symbol}"


def file_size(size: int) -> str:
    """«303 Б», «4,9 КБ»: Russian units and a decimal comma in Russian, English ones otherwise."""
    units = (_("B"), _("KB"), _("MB"), _("GB"))
    value, unit = float(size), units[-1]
    for candidate in units[:-1]:
        if value < 1024:
            unit = candidate
            break
        value /= 1024
    text = f"{value:.0f}" if unit == units[0] else f"{value:.1f}"
    decimal_mark = _(".")  # not inside the f-string: pybabel does not look into f-strings
    return f"{text.replace('.', decimal_mark)}\u00a0{unit}"


def blank(value: object) -> str:
    """An empty cell for an empty value: never «None»."""
    return "" if value is None else str(value)


def yes_no(flag: object) -> str:
    return str(_("Yes")) if flag else str(_("No"))


def cell(value: object, empty: str = "") -> object:
    """A value as a list or page shows it: FAB would print None, True and ISO times with seconds."""
    if value is None or value == "":
        return empty
    if isinstance(value, bool):
        return yes_no(value)
    if isinstance(value, datetime):
        return local_datetime(value)
    if isinstance(value, date):
        return local_date(value)
    return value


def person(user: object) -> str:
    """A user's name without stray spaces: the administrator has a first name only."""
    if user is None:
        return ""
    full = " ".join(f"{getattr(user, 'first_name', '') or ''} {getattr(user, 'last_name', '') or ''}".split())
    return full or str(getattr(user, "username", "") or "")


def local_today() -> date:
    """Today in the user's time zone: at 01:26 in Moscow it is already tomorrow's date in UTC+3."""
    return datetime.now(user_timezone()).date()


def zone_label(zone: ZoneInfo | str) -> str:
    """«Москва (UTC+3)», not «Europe/Moscow»: the zone's city in the page's language, and its offset now."""
    from babel.dates import get_timezone_location
    from flask_babel import get_locale

    zone = zone if isinstance(zone, ZoneInfo) else ZoneInfo(str(zone))
    offset = datetime.now(zone).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset else 0
    sign = "+" if minutes >= 0 else "\u2212"
    hours, rest = divmod(abs(minutes), 60)
    shift = f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "") if minutes else "UTC"
    try:
        city = get_timezone_location(zone.key, locale=str(get_locale() or "ru"), return_city=True)
    except (LookupError, ValueError):
        city = zone.key
    return shift if city == "UTC" else f"{city} ({shift})"


def register(app) -> None:
    app.add_template_filter(zone_label)
    app.add_template_filter(local_datetime)
    app.add_template_filter(local_date)
    app.add_template_filter(money)
    app.add_template_filter(file_size)
    app.add_template_filter(phone_links)
    app.add_template_filter(mail_link)
    app.add_template_filter(cell)
    app.add_template_filter(person)


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
