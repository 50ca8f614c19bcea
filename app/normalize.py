"""THE normalisation of what people type twice differently: company names and phone numbers.

`name_key` is the form under which two names are the same company for the duplicate check
(forms, REST, the Excel import): «ООО "Ромашка"», «ооо  РОМАШКА», «ООО Рoмашка» with a Latin o,
«ＯＯＯ Ромашка» in full-width letters, a zero-width space inside, «Ёлка»/«Елка», «Ромашка ООО»
and «Общество с ограниченной ответственностью «Ромашка»» all give one key; «АО Ромашка» is
another company. `sort_key` is what the organisations list sorts by: the name without its form.
Stored in organization.name_key (unique); migration 0008 recomputed it when this function grew.
Changing it again means a migration that recomputes the stored keys.
"""

from __future__ import annotations

import re
import unicodedata

NAME_KEY_LENGTH = 255

_SPACES = re.compile(r"\s+")
_NON_DIGITS = re.compile(r"[^0-9]+")
# Quotes around a legal form's name, in every style a keyboard, Word or 1C produces.
_QUOTES = "\"'`´«»‹›„“”‟‘’‚‛″′〝〞＂＇"
_DASHES = "‐‑‒–—―−﹘﹣－"
# Cyrillic letters that look like Latin ones (after casefold; upper-case look-alikes such as
# В/B, Н/H, М/M arrive here lower-cased): both scripts map to one letter, so a name typed with a
# Latin «o» inside a Cyrillic word, or «OOO» in Latin capitals, keeps its key.
_LOOK_ALIKES = str.maketrans(
    {
        "а": "a",
        "в": "b",
        "е": "e",
        "к": "k",
        "м": "m",
        "н": "h",
        "о": "o",
        "р": "p",
        "с": "c",
        "т": "t",
        "у": "y",
        "х": "x",
        "і": "i",
        "ј": "j",
        "ѕ": "s",
        "ё": "e",
        **{quote: " " for quote in _QUOTES},
        **{dash: "-" for dash in _DASHES},
    }
)


# Russian legal forms, by their abbreviation; spelt out, a form becomes its abbreviation.
LEGAL_FORMS = ("ооо", "оао", "зао", "пао", "нао", "ао", "ип", "тоо", "гуп", "муп", "фгуп", "фгбу", "нпо", "нпп")
LEGAL_FORMS += ("нпф", "тд", "пк", "ано")
_SPELT_OUT_FORMS = {
    "общество с ограниченной ответственностью": "ооо",
    "публичное акционерное общество": "пао",
    "непубличное акционерное общество": "нао",
    "закрытое акционерное общество": "зао",
    "открытое акционерное общество": "оао",
    "акционерное общество": "ао",
    "индивидуальный предприниматель": "ип",
    "автономная некоммерческая организация": "ано",
    "торговый дом": "тд",
}
_FORM_WORDS = "|".join(sorted(LEGAL_FORMS, key=len, reverse=True))
# «ООО «Ромашка»» as people write it: the form first; Excel lists often have «Ромашка, ООО».
_DISPLAY_FORM = re.compile(rf"^(?:{_FORM_WORDS})(?=[\s«\"'„“]|$)\s*", re.IGNORECASE)
_QUOTE_CHARS = re.compile(f"[{re.escape(_QUOTES)}]")


def _keyed(text: str) -> str:
    return text.translate(_LOOK_ALIKES)


_SPELT_OUT_KEYED = [(_keyed(words), _keyed(form)) for words, form in _SPELT_OUT_FORMS.items()]
_KEYED_FORMS = "|".join(re.escape(_keyed(form)) for form in sorted(LEGAL_FORMS, key=len, reverse=True))
_KEY_FORM_FIRST = re.compile(rf"^({_KEYED_FORMS}) (.+)$")
_KEY_FORM_LAST = re.compile(rf"^(.+?)[ ,]+({_KEYED_FORMS})$")


def _plain(name: str | None) -> str:
    text = unicodedata.normalize("NFKC", name or "")
    # Invisible characters (zero-width space and joiners, soft hyphen, BOM) and stray combining
    # marks (a stress accent); precomposed letters such as й and ё are single characters here.
    return "".join(char for char in text if unicodedata.category(char) not in ("Cf", "Mn", "Me"))


def name_key(name: str | None) -> str:
    """The form of a name under which look-alike spellings are the same company: the legal form
    (spelt out or abbreviated, before or after the name) first, then the name."""
    text = _SPACES.sub(" ", _keyed(_plain(name).casefold())).strip(" ,")
    for words, form in _SPELT_OUT_KEYED:
        text = text.replace(words, form)
    text = _SPACES.sub(" ", text).strip(" ,")
    last = _KEY_FORM_LAST.match(text)
    if last and not _KEY_FORM_FIRST.match(text):
        text = f"{last.group(2)} {last.group(1).strip(' ,')}"
    return text[:NAME_KEY_LENGTH]


def without_legal_form(name: str | None) -> str:
    """The name as people say it: «ООО «Ромашка»» is «Ромашка». The one place legal forms are dropped."""
    text = _SPACES.sub(" ", (name or "").strip())
    return _DISPLAY_FORM.sub("", text, count=1) or text


def sort_key(name: str | None) -> str:
    """What the organisations list sorts by: the name without its legal form and quotes, so every
    «АО» does not come first."""
    return _SPACES.sub(" ", _QUOTE_CHARS.sub("", without_legal_form(name))).strip().casefold()


def phone_digits(phone: str | None) -> str:
    """Digits of a phone, so that +7 (495) 123-45-67 is found by 4951234567 (full-width digits too)."""
    return _NON_DIGITS.sub("", unicodedata.normalize("NFKC", phone or ""))
