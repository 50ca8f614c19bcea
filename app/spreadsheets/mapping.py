"""Which column of the file goes to which field, guessed from Russian and English headers."""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l


@dataclass(frozen=True)
class Field:
    key: str
    label: object  # lazy translated
    group: str  # organization, contact, contact2, responsible


FIELDS: list[Field] = [
    Field("organization.name", _l("Name"), "organization"),
    Field("organization.inn", _l("INN"), "organization"),
    Field("organization.industry", _l("Industry"), "organization"),
    Field("organization.city", _l("City"), "organization"),
    Field("organization.address", _l("Address"), "organization"),
    Field("organization.phones", _l("Phones"), "organization"),
    Field("organization.email", _l("E-mail"), "organization"),
    Field("organization.website", _l("Website"), "organization"),
    Field("organization.notes", _l("Notes"), "organization"),
    Field("contact.full_name", _l("Full name"), "contact"),
    Field("contact.position", _l("Position"), "contact"),
    Field("contact.work_phone", _l("Work phone"), "contact"),
    Field("contact.mobile_phone", _l("Mobile phone"), "contact"),
    Field("contact.email", _l("E-mail"), "contact"),
    Field("contact2.full_name", _l("Full name"), "contact2"),
    Field("contact2.position", _l("Position"), "contact2"),
    Field("contact2.work_phone", _l("Work phone"), "contact2"),
    Field("contact2.mobile_phone", _l("Mobile phone"), "contact2"),
    Field("contact2.email", _l("E-mail"), "contact2"),
    Field("responsible", _l("Responsible manager"), "responsible"),
]
FIELD_KEYS = {field.key for field in FIELDS}
GROUP_LABELS = {
    "organization": _l("Organisation"),
    "contact": _l("Primary contact"),
    "contact2": _l("Second contact"),
    "responsible": _l("Responsibility"),
}

# Words in a header and the field they mean; the first matching line wins.
_ORGANIZATION_WORDS: list[tuple[str, str]] = [
    (r"\bинн\b|\binn\b|\btin\b|taxpayer", "inn"),
    (r"отрасл|сфера|вид деятельн|industry", "industry"),
    (r"город|населенн|населённ|\bcity\b|\btown\b", "city"),
    (r"адрес|address", "address"),
    (r"сайт|website|\bweb\b|\burl\b|www", "website"),
    (r"примечан|комментар|заметк|\bnotes?\b|comment", "notes"),
    (
        r"наименован|название|компани|организац|клиент|контрагент|юр.? ?лицо"
        r"|company|organi[sz]ation|client|customer|account|^name$",
        "name",
    ),
]
_CONTACT_WORDS: list[tuple[str, str]] = [
    (r"должност|position|job title|\btitle\b", "position"),
    (r"моб|сотов|mobile|cell", "mobile_phone"),
    (r"фио|контактн\w* лиц|контакт|имя|full ?name|contact|person|representative", "full_name"),
]
_PHONE = r"тел|phone|\bтлф\b"
_EMAIL = r"e-?mail|почт|эл\.? ?адрес|электронн"
_RESPONSIBLE = r"ответствен|менеджер|куратор|responsible|manager|owner|sales ?rep"
_SECOND = r"\b2\b|втор|second|доп\w*\.? контакт"


def _normal(header: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^\w@.\- ]+", " ", header.casefold().replace("ё", "е"))).strip()


def guess_mapping(header: list[str]) -> dict[int, str]:
    """A field for each column that names one; phones and e-mails after the contact's name column
    are the contact's, before it the company's; a "2" or "второй" makes a second contact."""
    mapping: dict[int, str] = {}
    taken: set[str] = set()
    contact_seen = False

    def take(index: int, key: str) -> None:
        if key not in taken:
            mapping[index] = key
            taken.add(key)

    for index, raw in enumerate(header):
        text = _normal(raw)
        if not text or text.startswith("#"):
            continue
        second = bool(re.search(_SECOND, text))
        prefix = "contact2" if second else "contact"
        if re.search(_RESPONSIBLE, text):
            take(index, "responsible")
            continue
        contact_word = next((key for pattern, key in _CONTACT_WORDS if re.search(pattern, text)), None)
        is_phone, is_email = bool(re.search(_PHONE, text)), bool(re.search(_EMAIL, text))
        about_contact = contact_seen or bool(re.search(r"контакт|contact|лиц", text)) or second
        if contact_word == "mobile_phone":
            take(index, f"{prefix}.mobile_phone")
        elif is_phone:
            key = f"{prefix}.work_phone" if about_contact else "organization.phones"
            take(index, key if key not in taken else "organization.phones")
        elif is_email:
            key = f"{prefix}.email" if about_contact else "organization.email"
            take(index, key if key not in taken else "organization.email")
        elif contact_word == "position":
            take(index, f"{prefix}.position")
        elif contact_word == "full_name" and not re.search(r"наименован|название|компани|организац", text):
            take(index, f"{prefix}.full_name")
            contact_seen = True
        else:
            key = next((key for pattern, key in _ORGANIZATION_WORDS if re.search(pattern, text)), None)
            if key:
                take(index, f"organization.{key}")
    return mapping


def mapping_from_saved(header: list[str], saved: dict[str, str]) -> dict[int, str]:
    """A saved mapping (header text → field) applied to this file's columns."""
    by_text = {_normal(text): key for text, key in saved.items() if key in FIELD_KEYS}
    return {index: by_text[_normal(name)] for index, name in enumerate(header) if _normal(name) in by_text}


def mapping_to_saved(header: list[str], mapping: dict[int, str]) -> dict[str, str]:
    return {header[index]: key for index, key in mapping.items() if index < len(header)}
