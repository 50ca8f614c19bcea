"""THE normalisation of what people type twice differently: company names and phone numbers.

`name_key` is the form under which two names are the same company for the duplicate check
(forms, REST, the Excel import): «ООО "Ромашка"», «ооо  РОМАШКА», «ООО Рoмашка» with a Latin o,
«ＯＯＯ Ромашка» in full-width letters, a zero-width space inside, «Ёлка»/«Елка» all give one key.
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


def name_key(name: str | None) -> str:
    """The form of a name under which look-alike spellings are the same company."""
    text = unicodedata.normalize("NFKC", name or "")
    # Invisible characters (zero-width space and joiners, soft hyphen, BOM) and stray combining
    # marks (a stress accent); precomposed letters such as й and ё are single characters here.
    text = "".join(char for char in text if unicodedata.category(char) not in ("Cf", "Mn", "Me"))
    text = text.casefold().translate(_LOOK_ALIKES)
    return _SPACES.sub(" ", text).strip()[:NAME_KEY_LENGTH]


def phone_digits(phone: str | None) -> str:
    """Digits of a phone, so that +7 (495) 123-45-67 is found by 4951234567 (full-width digits too)."""
    return _NON_DIGITS.sub("", unicodedata.normalize("NFKC", phone or ""))
