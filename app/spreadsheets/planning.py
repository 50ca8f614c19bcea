"""The dry run: what each row of the file will become, decided before anything is written.

A row becomes a new organisation, or is merged into one that exists (the same ИНН, or the same
duplicate key of its name, the key the organisation form checks), or into one an earlier row of
the same file creates; its contacts are added unless the organisation already has them. A row
that cannot be imported gets its reason in Russian.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models.clients import Contact, Organization, name_key, phone_digits
from app.models.users import CrmUser
from app.spreadsheets.mapping import FIELDS
from app.validation import CONTACT_RULES, ORGANIZATION_RULES, SINGLE_LINE

ORGANIZATION_FIELDS = ["name", "inn", "industry", "city", "address", "phones", "email", "website", "notes"]
CONTACT_FIELDS = ["full_name", "position", "work_phone", "mobile_phone", "email"]
_LABELS = {f.key: f.label for f in FIELDS}
_INN_WEIGHTS_10 = [2, 4, 10, 3, 5, 9, 4, 6, 8]
_INN_WEIGHTS_11 = [7, 2, 4, 10, 3, 5, 9, 4, 6, 8]
_INN_WEIGHTS_12 = [3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8]
_EXTENSION = re.compile(r"(доб\.?|ext\.?|добавочный)\s*(\d+)", re.IGNORECASE)


class Outcome(enum.StrEnum):
    NEW = "new"
    MERGE = "merge"
    ERROR = "error"


@dataclass
class RowPlan:
    number: int  # the row's number in the file, as Excel shows it
    cells: list[str]
    outcome: Outcome = Outcome.NEW
    organization: dict[str, str] = field(default_factory=dict)
    contacts: list[dict[str, str]] = field(default_factory=list)
    responsible_id: int | None = None
    existing_id: int | None = None  # the organisation in the database it merges into
    existing_name: str = ""
    key: str = ""  # the duplicate key, to merge later rows of the same file
    new_contacts: int = 0
    error: str = ""


def _inn_checksum(digits: list[int], weights: list[int]) -> int:
    return sum(d * w for d, w in zip(digits, weights, strict=False)) % 11 % 10


def inn_is_valid(inn: str) -> bool:
    """The Federal Tax Service's check digits: one for a company's 10 digits, two for a person's 12."""
    if not inn.isdigit() or len(inn) not in (10, 12):
        return False
    digits = [int(ch) for ch in inn]
    if len(inn) == 10:
        return _inn_checksum(digits, _INN_WEIGHTS_10) == digits[9]
    return _inn_checksum(digits, _INN_WEIGHTS_11) == digits[10] and _inn_checksum(digits, _INN_WEIGHTS_12) == digits[11]


def clean_inn(text: str) -> tuple[str, str | None]:
    """The ИНН as text with its leading zeros (Excel drops them from a number), or an error."""
    digits = phone_digits(text)
    if len(digits) in (9, 11) and inn_is_valid("0" + digits):
        digits = "0" + digits
    if len(digits) not in (10, 12):
        return digits, _("INN %(inn)s must have 10 digits (company) or 12 digits (entrepreneur).", inn=text)
    if not inn_is_valid(digits):
        return digits, _("INN %(inn)s has a wrong check digit: check the number.", inn=text)
    return digits, None


def format_phone(text: str) -> str:
    """Russian numbers in one shape, +7 (495) 123-45-67, however Excel or a person wrote them;
    other numbers as written. Several numbers in a cell stay several."""
    parts = [part.strip() for part in re.split(r"[;,]|\s{2,}", text) if part.strip()]
    shaped = []
    for part in parts:
        extension = _EXTENSION.search(part)
        main = part[: extension.start()] if extension else part
        digits = phone_digits(main)
        if len(digits) == 11 and digits[0] in "78":
            digits = digits[1:]
        foreign = main.strip().startswith("+") and not main.strip().startswith("+7")
        if len(digits) == 10 and not foreign:
            number = f"+7 ({digits[:3]}) {digits[3:6]}-{digits[6:8]}-{digits[8:]}"
        else:
            number = " ".join(main.split())
        shaped.append(f"{number} доб. {extension.group(2)}" if extension else number)
    return ", ".join(shaped)


class Responsibles:
    """Managers found by login, e-mail, "Фамилия Имя", "Имя Фамилия" or a surname alone."""

    def __init__(self, session: Session) -> None:
        self.by_name: dict[str, int | None] = {}
        for user in session.scalars(select(CrmUser).where(CrmUser.active.is_(True))):
            names = {
                user.username,
                user.email,
                f"{user.last_name} {user.first_name}",
                f"{user.first_name} {user.last_name}",
            }
            for name in names:
                if name:
                    self.by_name[self._key(name)] = user.id
            surname = self._key(user.last_name or "")
            if surname:  # a surname two managers share names nobody
                self.by_name[surname] = user.id if surname not in self.by_name else None
        # ambiguous surnames stay None

    @staticmethod
    def _key(text: str) -> str:
        return " ".join(text.replace("ё", "е").replace("Ё", "Е").split()).casefold()

    def find(self, text: str) -> int | None:
        return self.by_name.get(self._key(text))


class KnownOrganizations:
    """The client base's organisations by ИНН and by duplicate key, and the names of their contacts."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.by_inn: dict[str, tuple[int, str]] = {}
        self.by_key: dict[str, tuple[int, str]] = {}
        rows = session.execute(select(Organization.id, Organization.inn, Organization.name_key, Organization.name))
        for org_id, inn, key, name in rows:
            if inn:
                self.by_inn.setdefault(inn, (org_id, name))
            self.by_key[key] = (org_id, name)
        self._contacts: dict[int, set[str]] = {}

    def contact_names(self, organization_id: int) -> set[str]:
        if organization_id not in self._contacts:
            names = self.session.scalars(select(Contact.full_name).where(Contact.organization_id == organization_id))
            self._contacts[organization_id] = {self.contact_key(name) for name in names}
        return self._contacts[organization_id]

    @staticmethod
    def contact_key(full_name: str) -> str:
        return " ".join(full_name.replace("ё", "е").split()).casefold()


@dataclass
class PlannedInFile:
    """New organisations of the rows read so far, so that a later row merges into them."""

    by_key: dict[str, RowPlan] = field(default_factory=dict)
    by_inn: dict[str, RowPlan] = field(default_factory=dict)
    contacts: dict[str, set[str]] = field(default_factory=dict)


def _check(rules, value: str, label: object) -> str | None:
    for rule in rules:
        message = rule(value)
        if message:
            return f"{label}: {message}"
    return None


def _row_values(cells: list[str], mapping: dict[int, str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for index, key in mapping.items():
        if index < len(cells) and cells[index]:
            values[key] = cells[index].strip()
    return values


def _plan_contact(values: dict[str, str], prefix: str) -> tuple[dict[str, str] | None, str | None]:
    contact = {name: values[f"{prefix}.{name}"] for name in CONTACT_FIELDS if values.get(f"{prefix}.{name}")}
    if not contact:
        return None, None
    if not contact.get("full_name"):
        # A phone or e-mail without a name: kept under a name that says what it is.
        contact["full_name"] = contact.get("position") or _("Contact person")
    for name in ("work_phone", "mobile_phone"):
        if contact.get(name):
            contact[name] = format_phone(contact[name])
    for name, value in contact.items():
        if name in CONTACT_RULES:
            error = _check(CONTACT_RULES[name], value, _LABELS[f"{prefix}.{name}"])
            if error:
                return None, error
    return contact, None


def plan_row(
    number: int,
    cells: list[str],
    mapping: dict[int, str],
    known: KnownOrganizations,
    responsibles: Responsibles,
    planned: PlannedInFile,
) -> RowPlan:
    """What one row becomes; `planned` holds the new organisations of the file's earlier rows."""
    plan = RowPlan(number=number, cells=cells)
    values = _row_values(cells, mapping)

    def refuse(message: str) -> RowPlan:
        plan.outcome, plan.error = Outcome.ERROR, message
        return plan

    organization = {
        name: values[f"organization.{name}"] for name in ORGANIZATION_FIELDS if values.get(f"organization.{name}")
    }
    if not organization.get("name"):
        return refuse(_("The organisation's name is empty."))
    if organization.get("inn"):
        organization["inn"], error = clean_inn(organization["inn"])
        if error:
            return refuse(error)
    if organization.get("phones"):
        organization["phones"] = format_phone(organization["phones"])
    for name, value in organization.items():
        rules = (SINGLE_LINE,) if name == "name" else ORGANIZATION_RULES.get(name, ())
        if name == "inn":
            continue
        error = _check(rules, value, _LABELS[f"organization.{name}"])
        if error:
            return refuse(error)
    contacts = []
    for prefix in ("contact", "contact2"):
        contact, error = _plan_contact(values, prefix)
        if error:
            return refuse(error)
        if contact:
            contacts.append(contact)
    if values.get("responsible"):
        plan.responsible_id = responsibles.find(values["responsible"])
        if plan.responsible_id is None:
            return refuse(_("Responsible manager «%(name)s» not found.", name=values["responsible"]))
    plan.organization, plan.contacts = organization, contacts
    plan.key = name_key(organization["name"])
    inn = organization.get("inn")
    earlier = (planned.by_inn.get(inn) if inn else None) or planned.by_key.get(plan.key)
    existing = (known.by_inn.get(inn) if inn else None) or known.by_key.get(plan.key)
    if existing is not None:
        plan.outcome, (plan.existing_id, plan.existing_name) = Outcome.MERGE, existing
        names = known.contact_names(plan.existing_id)
    elif earlier is not None:
        plan.outcome, plan.existing_name, plan.key = Outcome.MERGE, earlier.organization["name"], earlier.key
        names = planned.contacts[earlier.key]
    else:
        plan.outcome = Outcome.NEW
        planned.by_key[plan.key] = plan
        if inn:
            planned.by_inn[inn] = plan
        names = planned.contacts.setdefault(plan.key, set())
    fresh = []
    for contact in contacts:
        contact_key = KnownOrganizations.contact_key(contact["full_name"])
        if contact_key not in names:
            names.add(contact_key)
            fresh.append(contact)
    plan.contacts, plan.new_contacts = fresh, len(fresh)
    return plan


def plan_rows(
    rows: Iterable[list[str]], first_number: int, mapping: dict[int, str], session: Session
) -> Iterator[RowPlan]:
    """Plans for the data rows; empty rows are skipped (Excel leaves them at the end)."""
    known, responsibles = KnownOrganizations(session), Responsibles(session)
    planned = PlannedInFile()
    for number, cells in enumerate(rows, start=first_number):
        if not any(cells):
            continue
        yield plan_row(number, cells, mapping, known, responsibles, planned)
