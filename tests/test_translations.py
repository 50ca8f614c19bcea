"""Every user-visible string has its Russian translation, and the catalogue matches the code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent


def _messages_in_code(tmp_path: Path) -> set[str]:
    pot = tmp_path / "messages.pot"
    pybabel = Path(sys.executable).parent / "pybabel"
    subprocess.run(
        [str(pybabel), "extract", "-F", "babel.cfg", "-k", "_l", "-k", "lazy_gettext", "-o", str(pot), "."],
        cwd=ROOT,
        check=True,
    )
    with pot.open("rb") as handle:
        return {message.id for message in read_po(handle) if message.id}


def _catalogue(locale: str):
    with (ROOT / "translations" / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=locale)


def test_every_string_in_the_code_is_translated_to_russian(tmp_path):
    catalogue = _catalogue("ru")
    untranslated = sorted(
        message_id
        for message_id in _messages_in_code(tmp_path)
        if message_id not in catalogue or not catalogue[message_id].string or catalogue[message_id].fuzzy
    )
    assert untranslated == [], "run `make extract-messages` and translate these in translations/ru"


def test_english_catalogue_knows_every_string(tmp_path):
    catalogue = _catalogue("en")
    missing = sorted(message_id for message_id in _messages_in_code(tmp_path) if message_id not in catalogue)
    assert missing == [], "run `make extract-messages`"
