"""Import and export timed at scale (not part of the suite; run it by name, on a database the
suite may empty):

    DATABASE_URL=postgresql://127.0.0.1:5432/crm_bench BENCH_ROWS=5000 \
        .venv/bin/pytest -q -s tests/bench_spreadsheets.py

Prints one JSON line: seconds for the upload, dry run, import (the job function), XLSX and CSV
export of all organisations, and the undo (the page's check and enqueue, then the job function).
"""

from __future__ import annotations

import io
import json
import os
import re
import resource
import time

import openpyxl
from sqlalchemy import func, select

from app.extensions import db
from app.models import ImportBatch, Organization
from app.models.imports import ImportState
from tests.test_spreadsheets_import import _user_id, check_rows, run_the_undo_job, uploaded_batch

ROWS = int(os.environ.get("BENCH_ROWS", 5000))


def _client_list() -> bytes:
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(["Наименование", "ИНН", "Город", "Телефон", "Контактное лицо", "Должность", "E-mail"])
    for i in range(ROWS):
        sheet.append(
            [f"ООО «Клиент {i}»", None, "Москва", 74950000000.0 + i, f"Петров {i}", "Директор", f"p{i}@c{i}.ru"]
        )
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_import_and_export_at_scale(app, admin_client):
    from app.jobs.imports import import_clients

    content = _client_list()
    timings: dict[str, float | int] = {}
    started = time.perf_counter()
    batch_id = uploaded_batch(admin_client, content, "clients.xlsx")
    timings["upload"] = time.perf_counter() - started
    started = time.perf_counter()
    check_rows(admin_client, batch_id)
    with app.app_context():
        if db.session.get(ImportBatch, batch_id).state == ImportState.CHECKING:  # over 1 MB: the worker's
            from app.jobs.imports import check_clients

            assert check_clients(batch_id, _user_id(app, "admin")) == ImportState.CHECKED
    timings["dry_run"] = time.perf_counter() - started
    with app.app_context():
        db.session.get(ImportBatch, batch_id).state = ImportState.QUEUED
        db.session.commit()
        started = time.perf_counter()
        assert import_clients(batch_id, _user_id(app, "admin")) == "done"
        timings["import"] = time.perf_counter() - started
        assert db.session.scalar(select(func.count(Organization.id))) == ROWS
    for export_format in ("xlsx", "csv"):
        started = time.perf_counter()
        answer = admin_client.get(f"/organizationview/export/?format={export_format}")
        assert answer.status_code == 200 and len(answer.data) > ROWS
        timings[f"export_{export_format}"] = time.perf_counter() - started
    page = admin_client.get(f"/imports/{batch_id}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    started = time.perf_counter()
    admin_client.post(f"/imports/{batch_id}/undo", data={"csrf_token": token})
    timings["undo_request"] = time.perf_counter() - started
    started = time.perf_counter()
    assert run_the_undo_job(app, batch_id) == "undone"
    timings["undo"] = time.perf_counter() - started
    with app.app_context():
        assert db.session.scalar(select(func.count(Organization.id))) == 0
    timings = {key: round(value, 2) for key, value in timings.items()}
    timings["rows"] = ROWS
    timings["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    timings["load_average"] = os.getloadavg()[0]
    print(json.dumps(timings))
