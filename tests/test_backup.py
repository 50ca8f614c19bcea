"""Backups: nothing is lost when the disk is.

The head of sales's story: the client base with its documents is backed up, the server is wiped,
`flask crm restore` gives back every row of every table and every file byte for byte. A damaged
or altered archive is refused before anything changes; a database with data is not overwritten
unless asked; the nightly job runs in a real worker and the administrator's page shows it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask_appbuilder import Model
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from werkzeug.datastructures import FileStorage

from app import backup
from app.domain.reminders import create_reminder
from app.domain.requests import add_comment, attach_document, change_delivery, change_status
from app.extensions import db
from app.files import store_upload
from app.models import AuditEntry, CrmUser, DeliveryStatus, Organization, RequestStatus
from app.models.stamps import utcnow
from tests.background import Background, wait_until
from tests.conftest import csrf_token, login
from tests.factories import make_organization, make_request

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40 + "Коммерческое предложение".encode()
XLSX = b"PK\x03\x04" + os.urandom(3000)


@pytest.fixture
def backups(app: Flask, tmp_path: Path):
    """Backups on, into a folder of this test's own."""
    saved = {key: app.config[key] for key in ("BACKUP_ENABLED", "BACKUP_FOLDER", "BACKUP_KEEP", "BACKUP_MAX_AGE_HOURS")}
    app.config.update(BACKUP_ENABLED=True, BACKUP_FOLDER=str(tmp_path / "backups"), BACKUP_KEEP=14)
    yield tmp_path / "backups"
    app.config.update(saved)


def _user(username: str) -> CrmUser:
    return db.session.scalars(select(CrmUser).where(CrmUser.username == username)).one()


def make_client_base(app: Flask) -> None:
    """Organisations, contacts, requests with items, comments, status and delivery history,
    uploaded documents, a reminder and the audit rows all of it leaves."""
    with app.app_context(), app.test_request_context():
        petrova, ivanov = _user("petrova"), _user("ivanov")
        first = make_organization(
            "ООО «Ромашка»",
            responsible=petrova,
            city="Тверь",
            contacts=[
                {"full_name": "Ромашкин Пётр", "mobile_phone": "+7 916 111-22-33", "is_primary": True},
                {"full_name": "Лютикова Анна", "email": "anna@romashka.ru"},
            ],
        )
        second = make_organization("АО «Техно» 'кавычки' \"и\" \\ слэш", responsible=ivanov, notes="строка\nвторая")
        request = make_request(
            first,
            items=[
                {"equipment_type": "Система очистки", "name": "OUUT", "sub_name": "X2-200", "capacity": "227"},
                {"equipment_type": "Насос", "name": "НЦ-5", "quantity": 3},
            ],
            responsible=petrova,
            author=petrova,
        )
        make_request(second, responsible=ivanov, author=ivanov)
        add_comment(request, "Клиент просит скидку 5 %", petrova)
        change_status(request, RequestStatus.IN_PROGRESS, "Отправили КП", petrova)
        change_delivery(request, DeliveryStatus.PREPARING_SHIPMENT, "Готовим", petrova)
        offer = store_upload(FileStorage(io.BytesIO(PDF), filename="КП №1.pdf"))
        attach_document(request, offer, petrova, comment="первая версия")
        prices = store_upload(FileStorage(io.BytesIO(XLSX), filename="расчёт.xlsx"))
        attach_document(request, prices, petrova)
        create_reminder(db.session, petrova, "Позвонить Ромашкину", utcnow() + timedelta(days=1), request=request)
        db.session.commit()
        assert db.session.scalar(select(func.count(AuditEntry.id))) > 0


def table_rows(app: Flask) -> dict[str, list[tuple]]:
    """Every row of every table (users, roles and the migration revision included), in key order."""
    rows = {}
    with app.app_context():
        db.session.remove()
        for table in Model.metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            rows[table.name] = [tuple(row) for row in db.session.execute(select(table).order_by(*order))]
        rows["alembic_version"] = [tuple(row) for row in db.session.execute(text("SELECT * FROM alembic_version"))]
        db.session.rollback()
    return rows


def uploaded_files(app: Flask) -> dict[str, bytes]:
    folder = Path(app.config["UPLOAD_FOLDER"])
    return {path.name: path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def run_cli(app: Flask, *args: str):
    return app.test_cli_runner().invoke(args=["crm", *args], catch_exceptions=False)


def make_archive(app: Flask, target: Path) -> Path:
    result = run_cli(app, "backup", "--output", str(target))
    assert result.exit_code == 0, result.output
    assert "Резервная копия сохранена" in result.output
    return target


def wipe(app: Flask) -> None:
    """The disk is gone: no database, no uploaded files."""
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
        url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
        if url.get_backend_name() == "sqlite":
            Path(url.database).unlink()
        else:
            with db.engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
            db.engine.dispose()
    shutil.rmtree(app.config["UPLOAD_FOLDER"])


def test_backup_then_wipe_then_restore_gives_back_every_row_and_every_file(app, client, tmp_path, backups):
    make_client_base(app)
    rows, files = table_rows(app), uploaded_files(app)
    assert {PDF, XLSX} <= set(files.values()) and rows["organization"] and rows["request_item"] and rows["reminder"]

    archive = make_archive(app, tmp_path / "copy.tar.gz")

    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        names = set(tar.getnames())
    assert manifest["schema_revision"] == rows["alembic_version"][0][0]
    assert manifest["tables"]["organization"] == 2 and manifest["tables"]["request_document"] == 2
    assert all(manifest["tables"][table] == len(table_rows) for table, table_rows in rows.items())
    assert {f"uploads/{name}" for name in files} <= set(manifest["files"])
    assert names == set(manifest["files"]) | {"manifest.json"}

    wipe(app)
    restored = run_cli(app, "restore", str(archive))
    assert restored.exit_code == 0, restored.output
    assert "Восстановлено" in restored.output

    after = table_rows(app)
    for table, before_rows in rows.items():
        assert after[table] == before_rows, table
    assert uploaded_files(app) == files
    login(client, "petrova")  # the people came back too, with their passwords
    page = client.get("/organizationview/list/").get_data(as_text=True)
    assert "Ромашка" in page


def _rewrite(archive: Path, target: Path, change) -> Path:
    """Repack the archive with one member's bytes changed by `change(name, data)`."""
    with tarfile.open(archive) as source, tarfile.open(target, "w:gz") as out:
        for member in source:
            data = source.extractfile(member).read()
            data = change(member.name, data)
            member.size = len(data)
            out.addfile(member, io.BytesIO(data))
    return target


def test_truncated_or_altered_archive_is_refused_and_changes_nothing(app, tmp_path, backups):
    make_client_base(app)
    archive = make_archive(app, tmp_path / "copy.tar.gz")
    with app.app_context():
        make_organization("ООО «После копии»")
    rows, files = table_rows(app), uploaded_files(app)

    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    document = next(name for name in json.load(_manifest(archive))["files"] if name.startswith("uploads/"))
    altered_file = _rewrite(
        archive, tmp_path / "altered-file.tar.gz", lambda name, data: data[:-1] + b"!" if name == document else data
    )
    dump = json.load(_manifest(archive))["database_file"]
    altered_dump = _rewrite(
        archive, tmp_path / "altered-dump.tar.gz", lambda name, data: data + b"\n-- added" if name == dump else data
    )
    not_gzip = tmp_path / "garbage.tar.gz"
    not_gzip.write_bytes(b"this is not an archive")

    cases = [
        (truncated, "Архив повреждён или неполон"),
        (altered_file, f"контрольная сумма {document} не совпадает"),
        (altered_dump, f"контрольная сумма {dump} не совпадает"),
        (not_gzip, "Архив повреждён или неполон"),
    ]
    for bad, message in cases:
        result = run_cli(app, "restore", "--force", str(bad))
        assert result.exit_code != 0, bad.name
        assert message in result.output, result.output
        assert "ничего не изменено" in result.output
        assert table_rows(app) == rows, bad.name
        assert uploaded_files(app) == files, bad.name
    leftovers = [path.name for path in Path(app.config["UPLOAD_FOLDER"]).parent.glob("crm-restore-*")]
    assert leftovers == []


def _manifest(archive: Path):
    with tarfile.open(archive) as tar:
        return io.BytesIO(tar.extractfile("manifest.json").read())


def test_restore_into_a_database_with_data_needs_force(app, tmp_path, backups):
    make_client_base(app)
    rows, files = table_rows(app), uploaded_files(app)
    archive = make_archive(app, tmp_path / "copy.tar.gz")
    with app.app_context():
        make_organization("ООО «После копии»")
    (Path(app.config["UPLOAD_FOLDER"]) / ("0" * 32)).write_bytes(b"%PDF-1.4 later")
    later_rows, later_files = table_rows(app), uploaded_files(app)

    refused = run_cli(app, "restore", str(archive))
    assert refused.exit_code == 1
    assert "не перезаписывает имеющиеся данные" in refused.output and "--force" in refused.output
    assert "organization" in refused.output
    assert table_rows(app) == later_rows and uploaded_files(app) == later_files

    forced = run_cli(app, "restore", "--force", str(archive))
    assert forced.exit_code == 0, forced.output
    assert table_rows(app) == rows
    assert uploaded_files(app) == files


def test_restore_refuses_an_archive_of_the_other_database_kind(app, tmp_path, backups):
    make_client_base(app)
    archive = make_archive(app, tmp_path / "copy.tar.gz")
    other = "postgresql" if json.load(_manifest(archive))["backend"] == "sqlite" else "sqlite"
    rows = table_rows(app)
    foreign = _rewrite(
        archive,
        tmp_path / "other-kind.tar.gz",
        lambda name, data: (
            data.replace(b'"backend": "', f'"backend": "{other}", "x": "'.encode()) if name == "manifest.json" else data
        ),
    )
    result = run_cli(app, "restore", "--force", str(foreign))
    assert result.exit_code == 1
    assert "Восстановление между разными СУБД не поддерживается" in result.output
    assert table_rows(app) == rows


def _status(folder: Path) -> dict:
    try:
        return json.loads((folder / "status.json").read_text())
    except (OSError, ValueError):
        return {}


def test_nightly_backup_runs_in_a_real_worker_and_the_page_shows_it(app, client, tmp_path, backups):
    make_client_base(app)
    background = Background(
        app,
        tmp_path,
        BACKUP_ENABLED="1",
        BACKUP_FOLDER=str(backups),
        BACKUP_CHECK_SECONDS="1",
        BACKUP_KEEP="2",
    )
    try:
        background.start("worker")
        background.start("scheduler")
        # Never backed up: the night's slot has passed, so the first tick queues one.
        assert wait_until(lambda: _status(backups).get("last_scheduled", {}).get("ok"), 60), background.logs()
        scheduled = _status(backups)["last_scheduled"]
        assert (backups / scheduled["file"]).stat().st_size == scheduled["size"] > 0
        with tarfile.open(backups / scheduled["file"]) as tar:
            assert json.load(tar.extractfile("manifest.json"))["tables"]["organization"] == 2

        login(client, "admin")
        page = client.get("/backups/").get_data(as_text=True)
        assert "Резервные копии" in page and scheduled["file"] in page and "По расписанию" in page
        health = client.get("/health")
        assert health.get_json()["checks"]["backup"]["state"] == "ok"

        # The button queues the job; the worker makes it; only the newest two archives stay.
        for _ in range(2):
            before = _status(backups)["last"]["file"]
            answer = client.post("/backups/run", data={"csrf_token": csrf_token(client, "/backups/")})
            assert answer.status_code == 302
            assert "Копия создаётся в фоне" in client.get("/backups/").get_data(as_text=True)
            assert wait_until(
                lambda before=before: _status(backups)["last"]["file"] != before,
                60,
            ), background.logs()
        assert _status(backups)["last"]["trigger"] == "button"
        kept = backup.kept_archives(backups)
        assert len(kept) == 2
        assert kept[0].name == _status(backups)["last"]["file"]
        page = client.get("/backups/").get_data(as_text=True)
        assert all(path.name in page for path in kept) and scheduled["file"] not in page.split("Хранимые архивы")[1]
        assert "С этой страницы" in page
        download = client.get(f"/backups/download/{kept[0].name}")
        assert download.status_code == 200 and download.data == kept[0].read_bytes()

        # A nightly check that runs again the same night makes no second scheduled backup.
        assert _status(backups)["last_scheduled"]["started_at"] == scheduled["started_at"]
    finally:
        background.stop_all()


def test_a_failed_nightly_backup_shows_in_russian_and_fails_health(app, client, tmp_path, backups):
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    broken = (
        f"sqlite:///{tmp_path / 'missing' / 'gone.db'}"
        if url.get_backend_name() == "sqlite"
        else url.set(database="no_such_database_for_backup").render_as_string(hide_password=False)
    )
    background = Background(
        app, tmp_path, BACKUP_ENABLED="1", BACKUP_FOLDER=str(backups), BACKUP_CHECK_SECONDS="1", DATABASE_URL=broken
    )
    try:
        background.start("worker")
        background.start("scheduler")
        assert wait_until(lambda: "ok" in _status(backups).get("last_scheduled", {}), 60), background.logs()
    finally:
        background.stop_all()
    last = _status(backups)["last_scheduled"]
    assert last["ok"] is False
    assert last["error"] in ("Не удалось прочитать базу данных, копия не создана.",) or "не существует" in last["error"]

    health = client.get("/health")
    assert health.status_code == 503
    assert health.get_json()["checks"]["backup"]["state"] == "failed"
    assert any(reason.startswith("backup failed") for reason in health.get_json()["reasons"])
    login(client, "admin")
    page = client.get("/backups/").get_data(as_text=True)
    assert "Последняя резервная копия не создана" in page and "Ошибка" in page


def test_health_fails_when_the_last_good_backup_is_too_old(app, client, backups):
    with app.app_context():
        assert backup.run_backup("schedule")["ok"]

    def backup_check() -> dict:
        # Only the backup's own check: no worker or scheduler runs in this test, so /health as a
        # whole answers 503 for them anyway.
        return client.get("/health").get_json()["checks"]["backup"]

    assert backup_check()["ok"] is True and backup_check()["state"] == "ok"
    app.config["BACKUP_MAX_AGE_HOURS"] = 0.0001  # the two days have passed
    assert wait_until(lambda: backup_check()["ok"] is False, 5)
    health = client.get("/health")
    assert health.status_code == 503 and backup_check()["state"] == "too old"
    assert any(reason.startswith("backup too old") for reason in health.get_json()["reasons"])
    app.config["BACKUP_ENABLED"] = False  # backups turned off: nothing to judge
    assert backup_check() == {"ok": True, "enabled": False}


def test_a_manager_reaches_neither_the_page_nor_the_button_nor_an_archive(app, client, tmp_path, backups):
    with app.app_context():
        outcome = backup.run_backup("command")
    name = outcome["file"]
    login(client, "ivanov")  # scope "all": sees every client, still not the backups
    page = client.get("/backups/")
    assert page.status_code in (302, 403, 404)
    assert name.encode() not in page.data and b"manifest" not in page.data
    download = client.get(f"/backups/download/{name}")
    assert download.status_code in (302, 403, 404)
    # A refusal page, not the archive (its menu links may repeat the address he typed).
    assert download.mimetype == "text/html" and not download.data.startswith(b"\x1f\x8b")
    assert b"manifest" not in download.data
    token = csrf_token(client, "/agent-settings/")
    answer = client.post("/backups/run", data={"csrf_token": token})
    assert answer.status_code in (302, 403, 404)
    with app.app_context():
        assert db.session.scalar(select(func.count(Organization.id))) == 0
    assert _status(backups)["last"]["trigger"] == "command"  # nothing else ran


def test_retention_keeps_the_newest_archives(app, backups):
    app.config["BACKUP_KEEP"] = 3
    with app.app_context():
        made = [backup.run_backup("command")["file"] for _ in range(5)]
    kept = [path.name for path in backup.kept_archives(backups)]
    assert kept == list(reversed(made))[:3]
    for name in kept:  # each one a whole archive that a restore would accept
        with backup.verified_archive(backups / name) as verified:
            assert verified.manifest["tables"]["ab_user"] >= 4


def test_an_archive_from_a_newer_pg_dump_restores_into_this_server(app, tmp_path, backups):
    """pg_dump 17+ writes `SET transaction_timeout = 0;`, unknown to PostgreSQL 15 and 16."""
    if make_url(app.config["SQLALCHEMY_DATABASE_URI"]).get_backend_name() != "postgresql":
        pytest.skip("PostgreSQL only")
    make_client_base(app)
    rows = table_rows(app)
    archive = make_archive(app, tmp_path / "copy.tar.gz")
    manifest = json.load(_manifest(archive))
    with tarfile.open(archive) as tar:
        dump = (
            tar.extractfile("database.sql")
            .read()
            .replace(b"SET statement_timeout = 0;\n", b"SET statement_timeout = 0;\nSET transaction_timeout = 0;\n", 1)
        )
    assert b"SET transaction_timeout" in dump
    manifest["files"]["database.sql"] = {"sha256": hashlib.sha256(dump).hexdigest(), "size": len(dump)}
    newer = _rewrite(
        archive,
        tmp_path / "from-pg-dump-17.tar.gz",
        lambda name, data: (
            dump if name == "database.sql" else json.dumps(manifest).encode() if name == "manifest.json" else data
        ),
    )
    result = run_cli(app, "restore", "--force", str(newer))
    assert result.exit_code == 0, result.output
    assert table_rows(app) == rows


def test_without_pg_dump_the_backup_is_refused_clearly(app, tmp_path):
    """A machine without the PostgreSQL client: exit code 1 and what to install, no archive."""
    if make_url(app.config["SQLALCHEMY_DATABASE_URI"]).get_backend_name() != "postgresql":
        pytest.skip("PostgreSQL only")
    environment = {
        **os.environ,
        "PATH": str(Path(sys.executable).parent),  # the virtualenv only: no pg_dump on it
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
        "INSTANCE_DIR": str(tmp_path),
    }
    finished = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "run", "crm", "backup", "--output", str(tmp_path / "out")],
        cwd=Path(__file__).resolve().parent.parent,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 1
    assert "pg_dump не установлен" in finished.stderr and "postgresql-client" in finished.stderr
    assert list(tmp_path.rglob("*.tar.gz*")) == []
