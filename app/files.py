"""Uploaded files: checked by extension and by content, stored outside any static folder under
server-made names, and read back only by the access-checked download route."""

from __future__ import annotations

import contextlib
import os
import re
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from werkzeug.datastructures import FileStorage

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .doc/.xls
_ZIP = b"PK\x03\x04"  # .docx/.xlsx/.odt/.ods/.zip

# extension -> (MIME type, content check)
ALLOWED_TYPES: dict[str, tuple[str, object]] = {
    "pdf": ("application/pdf", b"%PDF-"),
    "doc": ("application/msword", _OLE2),
    "xls": ("application/vnd.ms-excel", _OLE2),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", _ZIP),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", _ZIP),
    "odt": ("application/vnd.oasis.opendocument.text", _ZIP),
    "ods": ("application/vnd.oasis.opendocument.spreadsheet", _ZIP),
    "zip": ("application/zip", _ZIP),
    "png": ("image/png", b"\x89PNG\r\n\x1a\n"),
    "jpg": ("image/jpeg", b"\xff\xd8\xff"),
    "jpeg": ("image/jpeg", b"\xff\xd8\xff"),
    "dwg": ("image/vnd.dwg", b"AC10"),
    "txt": ("text/plain", "text"),
    "csv": ("text/csv", "text"),
}
SPREADSHEETS = ("xls", "xlsx")
_UNSAFE_NAME_CHARS = re.compile(r"[\x00-\x1f\x7f<>:\"|?*]")


class UploadRefused(ValueError):
    """The upload was not stored; the message says why, in the user's language."""


@dataclass(frozen=True)
class StoredFile:
    original_name: str
    stored_name: str
    content_type: str
    size: int


def clean_original_name(raw: str | None) -> str:
    """The name to show and offer on download: no directories, no control characters."""
    name = unicodedata.normalize("NFC", raw or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_NAME_CHARS.sub("", name).strip(" .")
    if len(name) > 200:
        stem, dot, extension = name.rpartition(".")
        name = (stem[: 200 - len(extension) - 1] + dot + extension) if dot else name[:200]
    return name


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    for encoding in ("utf-8", "cp1251"):
        try:
            head.decode(encoding)
            return True
        except UnicodeDecodeError:
            continue
    return False


def upload_folder() -> Path:
    folder = Path(current_app.config["UPLOAD_FOLDER"])
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def store_upload(upload: FileStorage | None, allowed: tuple[str, ...] | None = None) -> StoredFile:
    """Check and keep an uploaded file, or raise UploadRefused with a message for the user."""
    if upload is None or not upload.filename:
        raise UploadRefused(_("Choose a file to upload."))
    name = clean_original_name(upload.filename)
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    permitted = allowed or tuple(ALLOWED_TYPES)
    if extension not in permitted:
        raise UploadRefused(
            _(
                "Files of type «%(extension)s» are not accepted. Allowed: %(allowed)s.",
                extension=extension or _("no extension"),
                allowed=", ".join(permitted),
            )
        )
    content_type, signature = ALLOWED_TYPES[extension]
    head = upload.stream.read(8192)
    if not head:
        raise UploadRefused(_("The file «%(name)s» is empty.", name=name))
    matches = _looks_like_text(head) if signature == "text" else head.startswith(signature)  # type: ignore[arg-type]
    if not matches:
        raise UploadRefused(
            _("The file «%(name)s» is not really a .%(extension)s file.", name=name, extension=extension)
        )
    stored_name = uuid.uuid4().hex
    target = upload_folder() / stored_name
    upload.stream.seek(0)
    upload.save(target)
    size = target.stat().st_size
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit and size > limit:
        target.unlink(missing_ok=True)
        raise UploadRefused(too_large_message())
    return StoredFile(original_name=name, stored_name=stored_name, content_type=content_type, size=size)


def too_large_message() -> str:
    limit_mb = current_app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)
    return _("The file is too large: at most %(limit)d MB.", limit=limit_mb)


def stored_path(stored_name: str) -> Path:
    """The path of a stored file; names are server-made hex, anything else is refused."""
    if not re.fullmatch(r"[0-9a-f]{32}", stored_name):
        raise FileNotFoundError(stored_name)
    return upload_folder() / stored_name


def discard(stored_name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(stored_path(stored_name))
