"""Input rules shared by the web forms and the REST API, with messages in the user's language."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from flask import current_app, request
from flask_babel import gettext as _
from marshmallow import ValidationError as ApiValidationError
from sqlalchemy import select
from wtforms import DecimalField, Field, SelectField
from wtforms.validators import ValidationError as FormValidationError
from wtforms.widgets import TextInput

from app.extensions import db
from app.models.clients import Organization, name_key

# Tab, line feed and carriage return are text; every other C0/C1 control character is not.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_LINE_BREAKS = re.compile(r"[\r\n]")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^[0-9+()\-.,;\s/доб.ext]*$", re.IGNORECASE)
_INN = re.compile(r"^(\d{10}|\d{12})$")
NOTES_MAX_LENGTH = 10_000

Rule = Callable[[str], str | None]


def text_rule(max_length: int, multiline: bool = False) -> Rule:
    def check(value: str) -> str | None:
        if len(value) > max_length:
            return _("Too long: %(length)d characters, at most %(limit)d allowed.", length=len(value), limit=max_length)
        if _CONTROL_CHARS.search(value):
            return _("Contains invisible control characters; please retype the text.")
        if not multiline and _LINE_BREAKS.search(value):
            return _("Must fit on one line.")
        return None

    return check


def email_rule(value: str) -> str | None:
    return None if _EMAIL.match(value) else _("Not a valid e-mail address, e.g. name@company.ru.")


def phone_rule(value: str) -> str | None:
    if not _PHONE.match(value) or sum(ch.isdigit() for ch in value) < 5:
        return _("Not a phone number: use digits, spaces, +, brackets and dashes.")
    return None


def inn_rule(value: str) -> str | None:
    return None if _INN.match(value) else _("INN must have 10 digits (company) or 12 digits (entrepreneur).")


def unique_organization_name_rule(value: str) -> str | None:
    """Refuse a name that differs from another organisation's only by case or spacing."""
    current_pk = (request.view_args or {}).get("pk")
    query = select(Organization.id, Organization.name).where(Organization.name_key == name_key(value))
    if current_pk is not None:
        query = query.where(Organization.id != int(current_pk))
    clash = db.session.execute(query).first()
    if clash:
        return _("An organisation named «%(name)s» already exists.", name=clash.name)
    return None


class Refused(ValueError):
    """A value a parser cannot take; the message is for the user."""


def required_rule(value: str) -> str | None:
    """Marks a field that may not be emptied; checked by both wrappers before the other rules."""
    return None


def optional(rules: tuple[Rule, ...]) -> tuple[Rule, ...]:
    """The same rules for a field that may stay empty (a blank row of a form's table)."""
    return tuple(rule for rule in rules if rule is not required_rule)


def _is_blank(value: object) -> bool:
    """None, or text of nothing but spaces and invisible format characters (zero-width space…)."""
    if value is None:
        return True
    return isinstance(value, str) and all(ch.isspace() or unicodedata.category(ch) == "Cf" for ch in value)


def comment_problem(text: str) -> str | None:
    """The one check of a comment, on the form and in the API: required, printable, not too long."""
    if _is_blank(text):
        return _("Write a comment: it is required for every change.")
    return NOTES(text.strip())


# Money: «1 250 000,50», «1250000,50», «1250000.50», with spaces, NBSP, thin or narrow spaces as
# thousands separators; the column is Numeric(14, 2).
MONEY_MAX = Decimal("999999999999.99")
_MONEY_SPACES = re.compile(r"[\s\u00a0\u2009\u202f\u2007']")
_MONEY = re.compile(r"^[0-9]+([.,][0-9]+)?$")


def parse_money(value: object) -> Decimal | None:
    """A price typed the Russian way or sent as a JSON number; refuses what is not an amount."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise Refused(_("Enter an amount, e.g. 1 250 000,50."))
    if isinstance(value, float) and not math.isfinite(value):
        raise Refused(_("Enter an amount, e.g. 1 250 000,50."))
    text = _MONEY_SPACES.sub("", str(value).strip()) if isinstance(value, str) else str(value)
    if text.startswith("-"):
        raise Refused(_("The amount cannot be negative."))
    if isinstance(value, str) and not _MONEY.match(text):
        raise Refused(_("Enter an amount, e.g. 1 250 000,50."))
    try:
        amount = Decimal(text.replace(",", "."))
    except InvalidOperation:
        raise Refused(_("Enter an amount, e.g. 1 250 000,50.")) from None
    if not amount.is_finite():
        raise Refused(_("Enter an amount, e.g. 1 250 000,50."))
    if amount < 0:
        raise Refused(_("The amount cannot be negative."))
    if amount > MONEY_MAX:  # first: quantize() of a 10**40 exceeds the decimal context
        raise Refused(_("The amount is too large: at most 999 999 999 999,99."))
    if amount != amount.quantize(Decimal("0.01")):
        raise Refused(_("At most two digits after the comma (kopecks)."))
    return amount.quantize(Decimal("0.01"))


def parse_money_filters(filters, money_columns: tuple[str, ...] | list[str]) -> None:
    """Search values on money columns typed the Russian way («1 250 000,50») become amounts, in
    place; FAB's Filters keep the filters and their values in two parallel lists."""

    def amount(value: object) -> object:
        # A Decimal, not text: PostgreSQL has no numeric = varchar.
        return parse_money(value) if isinstance(value, str) and value.strip() else value

    for index, (column_filter, value) in enumerate(zip(filters.filters, filters.values, strict=False)):
        if column_filter.column_name in money_columns:
            # The web search passes each argument's values as a list, rison one value.
            filters.values[index] = [amount(one) for one in value] if isinstance(value, list) else amount(value)


def money_rule(value: object) -> str | None:
    try:
        parse_money(value)
    except Refused as refusal:
        return str(refusal)
    return None


def currencies() -> list[str]:
    """The currencies a request may be priced in: config.py's CURRENCIES (RUB, USD, EUR, CNY and
    what the administrator adds through CRM_EXTRA_CURRENCIES)."""
    return list(current_app.config.get("CURRENCIES", ["RUB", "USD", "EUR", "CNY"]))


def currency_rule(value: object) -> str | None:
    if value not in currencies():
        return _("Choose a currency from the list: %(choices)s.", choices=", ".join(currencies()))
    return None


# A quantity as typed in Russian: «1000», «1 000», with NBSP or a thin space between the thousands.
_QUANTITY = re.compile(r"[0-9]{1,3}(?:[\s\u00a0\u2009\u202f\u2007]?[0-9]{3})*")


def parse_quantity(value: object) -> int:
    """A whole number of pieces: «1 000» is a thousand; 1.5 or «2,5» is refused, never truncated."""
    if isinstance(value, bool):
        raise Refused(_("The quantity must be a whole number from 1 to 1,000,000."))
    if isinstance(value, str):
        text = value.strip()
        # Groups of three after the first, so «10 00» is a typo to show, not a silent 1000.
        value = int(re.sub(r"\D", "", text)) if len(text) <= 16 and _QUANTITY.fullmatch(text) else None
    if not isinstance(value, int) or not 1 <= value <= 1_000_000:
        raise Refused(_("The quantity must be a whole number from 1 to 1,000,000."))
    return value


def parse_related_id(value: object) -> int | None:
    """A related record's id: a whole number within bigint, never 1.5 (PostgreSQL would round it
    to another record) nor «１»."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        raise Refused(_("Choose a record from the list (its id is a whole number)."))
    return value


EARLIEST_DUE = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_DUE = datetime(2999, 12, 31, tzinfo=UTC)


def due_time_rule(moment: datetime | None) -> str | None:
    """A reminder's time must exist in UTC and in every zone: year 1 or 9999 overflow a conversion."""
    if moment is None:
        return None
    try:
        utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (OverflowError, ValueError):
        return _("Choose a date between the years 2000 and 2999.")
    if not EARLIEST_DUE <= utc <= LATEST_DUE:
        return _("Choose a date between the years 2000 and 2999.")
    return None


def parse_due_time(value: object) -> object:
    """A reminder time sent as ISO 8601 text: refused when unreadable or out of range; passed on
    unchanged for FAB's schema to load."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None:
        raise Refused(_("Enter a date and time, e.g. 2030-01-31T09:00:00+03:00."))
    problem = due_time_rule(moment)
    if problem:
        raise Refused(problem)
    return value


def form_validator(*rules: Rule) -> Callable:
    """Wrap rules as a WTForms validator; empty values are left to the required-field check."""

    def validate(_form, field) -> None:
        value = field.data
        if isinstance(value, str):
            value = value.strip()
            field.data = value
        if _is_blank(value):
            if required_rule in rules:
                raise FormValidationError(_("This field is required."))
            return
        for rule in rules:
            message = rule(value)
            if message:
                raise FormValidationError(message)

    return validate


def api_validator(*rules: Rule) -> Callable:
    """Wrap rules as a marshmallow validator for FAB's REST schemas."""

    def validate(value) -> None:
        if _is_blank(value) and required_rule in rules:
            raise ApiValidationError(_("This field is required."))
        if not value:
            return
        for rule in rules:
            message = rule(value.strip() if isinstance(value, str) else value)
            if message:
                raise ApiValidationError(message)

    return validate


SINGLE_LINE = text_rule(255)
NOTES = text_rule(NOTES_MAX_LENGTH, multiline=True)

ORGANIZATION_RULES: dict[str, tuple[Rule, ...]] = {
    "name": (required_rule, SINGLE_LINE, unique_organization_name_rule),
    "inn": (inn_rule,),
    "industry": (SINGLE_LINE,),
    "city": (SINGLE_LINE,),
    "address": (text_rule(500),),
    "phones": (SINGLE_LINE, phone_rule),
    "email": (SINGLE_LINE, email_rule),
    "website": (SINGLE_LINE,),
    "notes": (NOTES,),
}

CONTACT_RULES: dict[str, tuple[Rule, ...]] = {
    "full_name": (required_rule, SINGLE_LINE),
    "position": (SINGLE_LINE,),
    "work_phone": (text_rule(64), phone_rule),
    "mobile_phone": (text_rule(64), phone_rule),
    "email": (SINGLE_LINE, email_rule),
    "notes": (NOTES,),
}


FINANCE_RULES: dict[str, tuple[Rule, ...]] = {
    "payment_terms": (NOTES,),
    "contract_number": (text_rule(64),),
    "invoice_number": (text_rule(64),),
    "finance_comment": (NOTES,),
    "contract_price": (money_rule,),
    "currency": (required_rule, currency_rule),
}
# A request's own fields checked by its form and its API: finance, and the next step's text.
REQUEST_RULES: dict[str, tuple[Rule, ...]] = {**FINANCE_RULES, "next_step_text": (text_rule(200),)}

# One position of a request's contract subject (the form's equipment rows and the API's items).
ITEM_RULES: dict[str, tuple[Rule, ...]] = {
    "equipment_type": (required_rule, SINGLE_LINE),
    "name": (SINGLE_LINE,),
    "subname": (SINGLE_LINE,),
    "capacity": (SINGLE_LINE,),
}

# A comment on a status or delivery change, or on the documentation: text, never blank.
COMMENT_RULES: tuple[Rule, ...] = (required_rule, NOTES)
REMINDER_RULES: dict[str, tuple[Rule, ...]] = {"text": (required_rule, NOTES)}


def api_parser_validator(parse: Callable[[object], object]) -> Callable:
    """A parser of this module as a marshmallow validator (its refusal becomes the field's error)."""

    def validate(value) -> None:
        try:
            parse(value)
        except Refused as refusal:
            raise ApiValidationError(str(refusal)) from None

    return validate


class _ParsedByRule:
    """A form field read by one of this module's parsers, so the form refuses what the API refuses;
    an empty or absent box is None (left to the form's Optional() or DataRequired())."""

    @staticmethod
    def parse(text: str) -> object:
        raise NotImplementedError

    def process_formdata(self, valuelist: list[str]) -> None:
        if not valuelist or not valuelist[0].strip():
            self.data = None
            return
        try:
            self.data = self.parse(valuelist[0])
        except Refused as refusal:
            self.data = None
            raise ValueError(str(refusal)) from None


class MoneyField(_ParsedByRule, DecimalField):
    """A price typed the Russian way («1 250 000,50»), shown the same way when the form opens."""

    parse = staticmethod(parse_money)

    def process_formdata(self, valuelist: list[str]) -> None:
        if valuelist:  # a price the form did not post keeps what the record holds
            super().process_formdata(valuelist)

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        if self.data is None:
            return ""
        return f"{self.data:,.2f}".replace(",", "\u00a0").replace(".", ",")


class QuantityField(_ParsedByRule, Field):
    """An item's quantity typed the Russian way («1 000»), by the rule the API applies."""

    widget = TextInput()
    parse = staticmethod(parse_quantity)

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return "" if self.data is None else str(self.data)


class CurrencyField(SelectField):
    """The request's currency: a choice among config.py's CURRENCIES, never free text."""

    def __init__(self, label=None, validators=None, **kwargs) -> None:
        super().__init__(label, validators, choices=lambda: [(code, code) for code in currencies()], **kwargs)

    def pre_validate(self, form) -> None:
        if self.data not in currencies():
            raise FormValidationError(currency_rule(self.data))


def form_validators(rules: dict[str, tuple[Rule, ...]]) -> dict[str, list[Callable]]:
    return {column: [form_validator(*column_rules)] for column, column_rules in rules.items()}


def api_validators(rules: dict[str, tuple[Rule, ...]]) -> dict[str, Callable]:
    return {column: api_validator(*column_rules) for column, column_rules in rules.items()}
