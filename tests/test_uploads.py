"""Documents on a request: what is accepted, what is refused with which message, how it is served."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import RequestDocument
from tests.conftest import csrf_token
from tests.factories import make_organization, make_request

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
XLSX = b"PK\x03\x04" + b"\x00" * 100
XLS = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100


@pytest.fixture
def request_id(app) -> int:
    with app.app_context():
        return make_request(make_organization("ООО Документы")).id


def upload(client, pk: int, name: str, content: bytes, purpose: str = "document", **fields):
    data = {
        "csrf_token": csrf_token(client, f"/requestview/show/{pk}"),
        "purpose": purpose,
        "file": (io.BytesIO(content), name),
        **fields,
    }
    answer = client.post(f"/requestview/upload/{pk}", data=data, content_type="multipart/form-data")
    assert answer.status_code == 302, answer.status_code
    return client.get(answer.headers["Location"]).get_data(as_text=True)


def documents(app) -> list[RequestDocument]:
    with app.app_context():
        return list(db.session.scalars(select(RequestDocument).order_by(RequestDocument.id)))


def test_a_document_with_a_cyrillic_name_is_attached_and_downloaded_with_that_name(app, manager_client, request_id):
    page = upload(manager_client, request_id, "Коммерческое предложение №5.pdf", PDF, comment="Версия для директора")
    assert "Файл «Коммерческое предложение №5.pdf» прикреплён." in page
    assert "Версия для директора" in page and "Иван Иванов" in page
    [document] = documents(app)
    assert document.original_name == "Коммерческое предложение №5.pdf" and document.size == len(PDF)
    assert document.uploaded_by_fk is not None
    stored = Path(app.config["UPLOAD_FOLDER"]) / document.stored_name
    assert stored.read_bytes() == PDF and "static" not in str(stored)
    download = manager_client.get(f"/requestview/document/{document.id}")
    assert download.status_code == 200 and download.data == PDF
    disposition = download.headers["Content-Disposition"]
    assert "attachment" in disposition and "filename*=UTF-8''" in disposition and "%D0%9A" in disposition


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("договор.pdf.exe", b"MZ\x90\x00", "Файлы типа «exe» не принимаются."),
        ("../../x", PDF, "Файлы типа «без расширения» не принимаются."),
        ("пусто.pdf", b"", "Файл «пусто.pdf» пустой."),
        ("не pdf.pdf", b"<html>hello</html>", "Файл «не pdf.pdf» на самом деле не является файлом .pdf."),
    ],
)
def test_forbidden_uploads_are_refused_with_a_message_and_nothing_is_stored(
    app, manager_client, request_id, name, content, message
):
    folder = Path(app.config["UPLOAD_FOLDER"])
    before = set(folder.iterdir()) if folder.exists() else set()
    page = upload(manager_client, request_id, name, content)
    assert message in page
    assert documents(app) == []
    assert (set(folder.iterdir()) if folder.exists() else set()) == before


def test_path_tricks_lose_their_directories(app, manager_client, request_id):
    upload(manager_client, request_id, "../../etc/отчёт.pdf", PDF)
    [document] = documents(app)
    assert document.original_name == "отчёт.pdf"
    assert len(document.stored_name) == 32 and "/" not in document.stored_name


def test_an_oversized_upload_returns_to_the_request_with_a_message(app, manager_client, request_id):
    token = csrf_token(manager_client, f"/requestview/show/{request_id}")
    limit = app.config["MAX_CONTENT_LENGTH"]
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    try:
        answer = manager_client.post(
            f"/requestview/upload/{request_id}",
            data={
                "csrf_token": token,
                "purpose": "document",
                "file": (io.BytesIO(b"%PDF-" + b"0" * 2 * 1024 * 1024), "big.pdf"),
            },
            content_type="multipart/form-data",
        )
    finally:
        app.config["MAX_CONTENT_LENGTH"] = limit
    assert answer.status_code == 302
    page = manager_client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Файл слишком большой: допускается не более 1 МБ." in page
    assert documents(app) == []


def test_price_calculation_takes_only_spreadsheets(app, manager_client, request_id):
    refused = upload(manager_client, request_id, "расчёт.pdf", PDF, purpose="price_calculation")
    assert "Файлы типа «pdf» не принимаются. Допустимы: xls, xlsx." in refused
    upload(manager_client, request_id, "расчёт цены.xlsx", XLSX, purpose="price_calculation")
    page = upload(manager_client, request_id, "старый расчёт.xls", XLS, purpose="price_calculation")
    assert [d.purpose for d in documents(app)] == ["price_calculation", "price_calculation"]
    assert "старый расчёт.xls" in page  # the latest one is shown in the finance block


def test_invoice_file_is_attached_to_the_finance_block(app, manager_client, request_id):
    page = upload(manager_client, request_id, "Счёт 301.pdf", PDF, purpose="invoice")
    assert "Счёт 301.pdf" in page
    assert documents(app)[0].purpose == "invoice"


def test_downloading_a_missing_document_is_404(manager_client):
    assert manager_client.get("/requestview/document/424242").status_code == 404


def test_deleting_a_request_removes_its_files(app, manager_client, request_id):
    from app.models import Request

    upload(manager_client, request_id, "спецификация.pdf", PDF)
    [document] = documents(app)
    stored = Path(app.config["UPLOAD_FOLDER"]) / document.stored_name
    assert stored.exists()
    with app.app_context():
        db.session.delete(db.session.get(Request, request_id))
        db.session.commit()
    assert not stored.exists()
