"""An uploaded spreadsheet as a header and rows of text, whatever Excel did to it.

XLSX through openpyxl's read-only mode (rows streamed from the zip); CSV/TXT through the csv
module with the encoding found by charset-normalizer and the dialect found by csv.Sniffer.
Numbers Excel stored as floats come back as the digits they were; a title row above the table
and a header whose cells were merged are recognised.
"""

from __future__ import annotations

import codecs
import csv
import itertools
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import charset_normalizer
from flask_babel import gettext as _
from openpyxl import load_workbook

SPREADSHEET_KINDS = {"xlsx": "xlsx", "csv": "csv", "txt": "csv"}
ENCODINGS = {"utf-8-sig": "UTF-8", "cp1251": "Windows-1251"}
DELIMITERS = {";": ";", ",": ",", "\t": "Tab", "|": "|"}
MAX_COLUMNS = 100
HEADER_SEARCH_ROWS = 10  # a title or a blank line or two may stand above the table
MAX_UNPACKED_BYTES = 300 * 1024 * 1024  # an XLSX that unpacks past this is refused (a zip bomb)
MAX_PACKING_RATIO = 200  # real workbooks compress 5–20 times; bombs thousands of times
_SCIENTIFIC = re.compile(r"^[+-]?\d(?:[.,]\d+)?[eE]\+?\d+$")


class UnreadableFile(ValueError):
    """The file cannot be imported; the message says why and what to do, in Russian."""


@dataclass
class TextFormat:
    encoding: str = "utf-8-sig"
    delimiter: str = ";"


@dataclass
class Table:
    header: list[str]
    first_data_row: int  # 1-based number of the first data row in the file, for messages
    rows: Iterator[list[str]] = field(repr=False)


def file_kind(name: str) -> str:
    """xlsx or csv, or a refusal that tells an .xls owner how to save his file."""
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension == "xls":
        raise UnreadableFile(
            _(
                "Old Excel files (.xls) are not read. Open the file in Excel, choose «File → Save as» and "
                "the type «Excel Workbook (*.xlsx)», then upload the new file."
            )
        )
    if extension not in SPREADSHEET_KINDS:
        raise UnreadableFile(_("Upload an Excel workbook (.xlsx) or a text table (.csv, .txt)."))
    return SPREADSHEET_KINDS[extension]


def cell_text(value: object) -> str:
    """A cell as the text the user typed: 7701234567.0 and 7.701234567E9 are 7701234567."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return value.strftime("%d.%m.%Y") if value.time() == datetime.min.time() else value.strftime("%d.%m.%Y %H:%M")
    if isinstance(value, date):
        return value.strftime("%d.%m.%Y")
    text = " ".join(str(value).replace("\u00a0", " ").split())
    if _SCIENTIFIC.match(text):
        number = float(text.replace(",", "."))
        if number.is_integer() and abs(number) < 1e16:
            return str(int(number))
    return text


def detect_text_format(path: Path) -> TextFormat:
    """The encoding (charset-normalizer, among UTF-8 and Windows-1251) and the separator (Sniffer)."""
    with path.open("rb") as handle:
        sample = handle.read(64 * 1024)
    if not sample.strip():
        raise UnreadableFile(_("The file is empty."))
    if b"\x00" in sample:
        raise UnreadableFile(
            _("This is not a text table: save it from Excel as «CSV (разделители — запятые)» or .xlsx.")
        )
    if sample.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    else:
        best = charset_normalizer.from_bytes(sample, cp_isolation=["utf_8", "cp1251"]).best()
        encoding = "cp1251" if best is not None and best.encoding == "cp1251" else "utf-8-sig"
    text = sample.decode(encoding, errors="replace")
    lines = "\n".join(text.splitlines()[:20])
    try:
        delimiter = csv.Sniffer().sniff(lines, delimiters=";,\t|").delimiter
    except csv.Error:
        delimiter = ";" if lines.count(";") >= lines.count(",") else ","
    return TextFormat(encoding=encoding, delimiter=delimiter)


def check_xlsx(path: Path) -> None:
    """Refuse what is not a workbook (a picture renamed .xlsx) and what unpacks too far (a bomb)."""
    if path.stat().st_size == 0:
        raise UnreadableFile(_("The file is empty."))
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            names = {member.filename for member in members}
            unpacked = sum(member.file_size for member in members)
            packed = sum(member.compress_size for member in members) or 1
    except zipfile.BadZipFile:
        raise UnreadableFile(
            _("The file is not an Excel workbook (.xlsx). Open it in Excel and save it as «Excel Workbook».")
        ) from None
    if "[Content_Types].xml" not in names or not any(name.startswith("xl/worksheets/") for name in names):
        raise UnreadableFile(
            _("The file is not an Excel workbook (.xlsx). Open it in Excel and save it as «Excel Workbook».")
        )
    if unpacked > MAX_UNPACKED_BYTES or unpacked / packed > MAX_PACKING_RATIO:
        raise UnreadableFile(
            _(
                "The workbook unpacks to %(size)d MB: this is not a client list. Nothing was imported.",
                size=unpacked // (1024 * 1024),
            )
        )


def _raw_rows(path: Path, kind: str, text_format: TextFormat) -> Iterator[list[str]]:
    if kind == "xlsx":
        check_xlsx(path)
        handle = path.open("rb")  # a file object: the stored name has no .xlsx for openpyxl to check
        try:
            try:
                workbook = load_workbook(handle, read_only=True, data_only=True)
            except Exception as error:  # openpyxl raises many kinds for a damaged workbook
                raise UnreadableFile(_("The workbook cannot be read: %(reason)s", reason=error)) from None
            try:
                sheet = workbook.worksheets[0]
                # Some programs write a wrong size into the sheet; read the rows that are there.
                sheet.reset_dimensions()
                for row in sheet.iter_rows(values_only=True):
                    cells = [cell_text(value) for value in row[: MAX_COLUMNS + 1]]
                    yield cells + (["…"] if len(row) > MAX_COLUMNS + 1 else [])
            finally:
                workbook.close()
        finally:
            handle.close()
        return
    with path.open("r", encoding=text_format.encoding, errors="replace", newline="") as handle:
        for row in csv.reader(handle, delimiter=text_format.delimiter):
            yield [cell_text(value) for value in row]


def _filled(row: list[str]) -> int:
    return sum(1 for value in row if value)


def _trim(row: list[str]) -> list[str]:
    while row and not row[-1]:
        row = row[:-1]
    return row


def open_table(path: Path, kind: str, text_format: TextFormat | None = None) -> Table:
    """The header (merged cells filled, a sub-header joined) and an iterator of the data rows."""
    text_format = text_format or TextFormat()
    rows = _raw_rows(path, kind, text_format)
    top = list(itertools.islice(rows, HEADER_SEARCH_ROWS))
    # The header is the first row of two or more cells (a title may stand above it); a list of
    # names alone has none such, and its first filled row is the header.
    found = next((index for index, row in enumerate(top) if _filled(row) >= 2), None)
    if found is None:
        found = next((index for index, row in enumerate(top) if _filled(row)), None)
    if found is None:
        raise UnreadableFile(_("The file is empty: no table with a header row was found."))
    header, number = _trim(top[found]), found + 1
    rows = itertools.chain(top[found + 1 :], rows)
    if len(header) > MAX_COLUMNS:
        raise UnreadableFile(
            _(
                "The table has more than %(limit)d columns: this is not a client list. Check the file.",
                limit=MAX_COLUMNS,
            )
        )
    # A merged header cell leaves the cells to its right empty: they belong to the same heading,
    # and the row below may name each of them ("Контактное лицо" over "ФИО", "Должность").
    spans = _span_columns(header)
    following = next(rows, None)
    first_data_row = number + 1
    pending: list[list[str]] = []
    if following is not None:
        raw_following, following = following, _trim(following)
        if spans and _looks_like_subheader(following, spans):
            merged = _merge_spans(header)
            header = [
                " ".join(
                    part
                    for part in (
                        merged[index] if index < len(merged) else "",
                        following[index] if index < len(following) else "",
                    )
                    if part
                )
                for index in range(max(len(header), len(following)))
            ]
            first_data_row += 1
        else:
            header = _merge_spans(header) if spans else header
            pending.append(raw_following)  # untrimmed, as every data row: the error file keeps its columns

    def data() -> Iterator[list[str]]:
        for row in pending:
            yield row
        for row in rows:
            yield row

    return Table(
        header=[name or f"#{index + 1}" for index, name in enumerate(header)],
        first_data_row=first_data_row,
        rows=data(),
    )


def _merge_spans(header: list[str]) -> list[str]:
    """ "Контактное лицо" merged over three columns reads as that name in each of the three."""
    result: list[str] = []
    for name in header:
        result.append(name or (result[-1] if result else ""))
    return result


def _span_columns(header: list[str]) -> set[int]:
    """Columns under a merged header cell: the named cell and the empty ones to its right."""
    spans: set[int] = set()
    for index, name in enumerate(header):
        if not name and index and (header[index - 1] or index - 1 in spans):
            spans |= {index - 1, index}
    return spans


def _looks_like_subheader(row: list[str], spans: set[int]) -> bool:
    """A second header row: words only, and only under the merged cells (the columns beside them
    were merged downwards, so they are empty here)."""
    values = {index: value for index, value in enumerate(row) if value}
    return (
        len(values) >= 2
        and set(values) <= spans
        and not any(any(ch.isdigit() or ch == "@" for ch in value) for value in values.values())
    )
