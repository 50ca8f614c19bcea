"""Input rules shared by the web forms and the REST API, with messages in the user's language."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import request
from flask_babel import gettext as _
from marshmallow import ValidationError as ApiValidationError
from sqlalchemy import select
from wtforms.validators import ValidationError as FormValidationError

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


def form_validator(*rules: Rule) -> Callable:
    """Wrap rules as a WTForms validator; empty values are left to the required-field check."""

    def validate(_form, field) -> None:
        value = field.data
        if isinstance(value, str):
            value = value.strip()
            field.data = value
        if not value:
            return
        for rule in rules:
            message = rule(value)
            if message:
                raise FormValidationError(message)

    return validate


def api_validator(*rules: Rule) -> Callable:
    """Wrap rules as a marshmallow validator for FAB's REST schemas."""

    def validate(value) -> None:
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
    "name": (SINGLE_LINE, unique_organization_name_rule),
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
    "full_name": (SINGLE_LINE,),
    "position": (SINGLE_LINE,),
    "work_phone": (text_rule(64), phone_rule),
    "mobile_phone": (text_rule(64), phone_rule),
    "email": (SINGLE_LINE, email_rule),
    "notes": (NOTES,),
}


def form_validators(rules: dict[str, tuple[Rule, ...]]) -> dict[str, list[Callable]]:
    return {column: [form_validator(*column_rules)] for column, column_rules in rules.items()}


def api_validators(rules: dict[str, tuple[Rule, ...]]) -> dict[str, Callable]:
    return {column: api_validator(*column_rules) for column, column_rules in rules.items()}
