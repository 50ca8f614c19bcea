"""Writing a list as XLSX or CSV: real dates and numbers, safe text, bounded memory.

Rows arrive as an iterator from the database (a server-side cursor); openpyxl's write-only
workbook keeps only the current row in memory and spools the sheet to a temporary file, CSV is
written line by line to the response.
"""

from __future__ import annotations

import codecs
import csv
import io
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, BinaryIO

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from app.formatting import user_timezone

# A cell whose text starts with one of these is a formula to Excel and LibreOffice (OWASP "CSV
# injection"); tab and carriage return are in the list because Excel skips them before a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

TEXT, DATE, DATETIME, MONEY, NUMBER, BOOLEAN = "text", "date", "datetime", "money", "number", "boolean"
_FORMATS = {DATE: "DD.MM.YYYY", DATETIME: "DD.MM.YYYY HH:MM", MONEY: "#,##0.00", NUMBER: "0"}


@dataclass(frozen=True)
class ExportColumn:
    """One column of an export: its Russian header, how to read the value, what kind it is."""

    header: Any  # a lazy translated string
    value: Callable[[Any], Any]
    kind: str = TEXT
    width: int = 18


def attribute(name: str) -> Callable[[Any], Any]:
    """The value of a dotted attribute path; None when a link on the way is missing."""

    def read(record: Any) -> Any:
        value = record
        for part in name.split("."):
            value = getattr(value, part, None)
            if value is None:
                return None
        return value

    return read


def _local(value: datetime) -> datetime:
    """A stored UTC time as the user's wall-clock time: Excel has no time zones."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(user_timezone()).replace(tzinfo=None)


def cell_value(column: ExportColumn, record: Any) -> Any:
    """The value as Excel should store it: a date, a number, a boolean word or plain text."""
    from flask_babel import gettext as _

    value = column.value(record)
    if value is None or value == "":
        return None
    if column.kind == DATETIME and isinstance(value, datetime):
        return _local(value)
    if column.kind == DATE and isinstance(value, datetime):
        return _local(value).date()
    if column.kind == DATE and isinstance(value, date):
        return value
    if column.kind in (MONEY, NUMBER) and isinstance(value, int | float | Decimal):
        return float(value) if isinstance(value, Decimal) else value
    if column.kind == BOOLEAN:
        return _("Yes") if value else _("No")
    return ILLEGAL_CHARACTERS_RE.sub("", str(value))


def is_formula_like(text: str) -> bool:
    return text.startswith(FORMULA_STARTS)


def write_xlsx(columns: list[ExportColumn], records: Iterable[Any], sheet_title: str) -> BinaryIO:
    """The workbook in a temporary file (on disk past a few megabytes), rewound for sending."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=sheet_title[:31])
    for index, column in enumerate(columns, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = column.width
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for column in columns:
        cell = WriteOnlyCell(sheet, value=str(column.header))
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    formats = [_FORMATS.get(column.kind) for column in columns]
    for record in records:
        row = []
        for column, number_format in zip(columns, formats, strict=True):
            value = cell_value(column, record)
            if number_format and not isinstance(value, str) and value is not None:
                cell = WriteOnlyCell(sheet, value=value)
                cell.number_format = number_format
                row.append(cell)
            elif isinstance(value, str) and is_formula_like(value):
                # Stored as a string cell (never a formula) with Excel's "quote prefix", so the
                # text stays text even when the user edits the cell.
                cell = WriteOnlyCell(sheet, value=value)
                cell.data_type = "s"
                cell.quotePrefix = True
                row.append(cell)
            else:
                row.append(value)
        sheet.append(row)
    target = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 (send_file closes it)
    workbook.save(target)
    target.seek(0)
    return target


def csv_text(value: Any) -> str:
    """A CSV field as Excel on a Russian Windows reads it: dates as dd.mm.yyyy, decimal comma."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%d.%m.%Y %H:%M")
    if isinstance(value, date):
        return value.strftime("%d.%m.%Y")
    if isinstance(value, float):
        return f"{value:.2f}".replace(".", ",")
    text = str(value)
    # The apostrophe is what OWASP advises for CSV: Excel shows the text instead of computing it.
    return "'" + text if is_formula_like(text) else text


def stream_csv(columns: list[ExportColumn], records: Iterable[Any], encoding: str) -> Iterator[bytes]:
    """CSV with `;` (what Excel expects where the decimal separator is a comma), line by line.

    UTF-8 gets a BOM so that Excel recognises it; characters cp1251 lacks become «?».
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    encoder = codecs.getincrementalencoder(encoding)(errors="replace")
    if encoding == "utf-8":
        yield codecs.BOM_UTF8
    writer.writerow([str(column.header) for column in columns])
    for count, record in enumerate(records, start=1):
        writer.writerow([csv_text(cell_value(column, record)) for column in columns])
        if count % 500 == 0:
            yield encoder.encode(buffer.getvalue())
            buffer.seek(0)
            buffer.truncate()
    yield encoder.encode(buffer.getvalue(), final=True)
