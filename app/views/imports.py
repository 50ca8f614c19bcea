"""«База клиентов → Импорт»: upload, column mapping, dry run, background run, undo."""

from __future__ import annotations

import json
import tempfile

from flask import abort, flash, g, jsonify, redirect, request, send_file, url_for
from flask_appbuilder import BaseView, expose, has_access, permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from openpyxl import Workbook
from sqlalchemy import select

from app import access
from app.extensions import db
from app.files import UploadRefused, discard, store_upload, stored_path
from app.models.imports import ImportBatch, ImportMapping, ImportState
from app.spreadsheets import importing, undoing
from app.spreadsheets.export import is_formula_like
from app.spreadsheets.mapping import FIELDS, GROUP_LABELS, guess_mapping, mapping_from_saved, mapping_to_saved
from app.spreadsheets.reading import (
    DELIMITERS,
    ENCODINGS,
    TextFormat,
    UnreadableFile,
    detect_text_format,
    file_kind,
    open_table,
)

PREVIEW_ROWS = 10
# A larger file is checked in the worker: a dry run of 50,000 rows outlasts a web request.
CHECK_IN_REQUEST_MAX_BYTES = 1024 * 1024
ACTIVE_STATES = (ImportState.CHECKING, ImportState.QUEUED, ImportState.RUNNING, ImportState.UNDOING)
UNDOABLE_STATES = (ImportState.DONE, ImportState.FAILED)
STATE_LABELS = {
    ImportState.UPLOADED: _l("Columns not mapped yet"),
    ImportState.CHECKING: _l("Checking the rows"),
    ImportState.CHECKED: _l("Checked, not imported yet"),
    ImportState.QUEUED: _l("Waiting for the worker"),
    ImportState.RUNNING: _l("Importing"),
    ImportState.DONE: _l("Imported"),
    ImportState.FAILED: _l("Failed"),
    ImportState.UNDOING: _l("Undoing the import"),
    ImportState.UNDONE: _l("Undone"),
}
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _may_import() -> None:
    if not access.may_import_clients(g.user):
        abort(403)


def _batch_or_404(pk: int) -> ImportBatch:
    _may_import()
    query = select(ImportBatch).where(ImportBatch.id == pk)
    clause = access.import_batch_clause(g.user)
    batch = db.session.scalars(query if clause is None else query.where(clause)).one_or_none()
    if batch is None:
        abort(404)
    return batch


def _progress(batch: ImportBatch) -> dict:
    return {
        "state": batch.state,
        "state_label": str(STATE_LABELS[ImportState(batch.state)]),
        "total": batch.total_rows,
        "done": batch.done_rows,
        "errors": batch.error_rows,
        "created": batch.created_organizations,
        "merged": batch.merged_organizations,
        "contacts": batch.created_contacts,
        "message": batch.message or "",
        "finished": batch.state not in ACTIVE_STATES,
    }


class ImportView(BaseView):
    route_base = "/imports"
    default_view = "index"

    @expose("/")
    @has_access
    @permission_name("import")
    def index(self):
        if not access.may_import_clients(g.user):
            # The menu offers the page to every manager; one with scope "own" learns why not.
            page = self.render_template("crm/import_index.html", title=_("Import of the client base"), refused=True)
            return page, 403
        query = select(ImportBatch).order_by(ImportBatch.id.desc()).limit(50)
        clause = access.import_batch_clause(g.user)
        batches = db.session.scalars(query if clause is None else query.where(clause)).all()
        return self.render_template(
            "crm/import_index.html", title=_("Import of the client base"), batches=batches, states=STATE_LABELS
        )

    @expose("/upload", methods=["POST"])
    @has_access
    @permission_name("import")
    def upload(self):
        _may_import()
        upload = request.files.get("file")
        try:
            kind = file_kind(upload.filename if upload else "")
            stored = store_upload(upload, allowed=("xlsx", "csv", "txt"))
        except (UnreadableFile, UploadRefused) as refusal:
            flash(str(refusal), "danger")
            return redirect(url_for(".index"))
        path = stored_path(stored.stored_name)
        try:
            text_format = detect_text_format(path) if kind == "csv" else TextFormat(encoding=None, delimiter=None)
            table = open_table(path, kind, text_format)
            mapping = guess_mapping(table.header)
            if next(table.rows, None) is None:
                raise UnreadableFile(_("The file has a header but no rows with data. Nothing to import."))
        except UnreadableFile as refusal:
            discard(stored.stored_name)
            flash(str(refusal), "danger")
            return redirect(url_for(".index"))
        batch = ImportBatch(
            user_id=g.user.id,
            original_name=stored.original_name,
            stored_name=stored.stored_name,
            file_kind=kind,
            encoding=text_format.encoding,
            delimiter=text_format.delimiter,
            mapping=json.dumps(mapping),
        )
        db.session.add(batch)
        db.session.commit()
        return redirect(url_for(".mapping", pk=batch.id))

    @expose("/<int:pk>/mapping", methods=["GET", "POST"])
    @has_access
    @permission_name("import")
    def mapping(self, pk: int):
        batch = _batch_or_404(pk)
        if batch.state not in (ImportState.UPLOADED, ImportState.CHECKED):
            return redirect(url_for(".show", pk=pk))
        if request.method == "POST":
            if batch.file_kind == "csv":  # the user's choice where he made one
                if request.form.get("encoding") in ENCODINGS:
                    batch.encoding = request.form["encoding"]
                if request.form.get("delimiter") in DELIMITERS:
                    batch.delimiter = request.form["delimiter"]
            if request.form.get("action") == "reread":
                db.session.commit()
                return redirect(url_for(".mapping", pk=pk))
            keys = {field.key for field in FIELDS}
            chosen = {
                int(name.split("-", 1)[1]): value
                for name, value in request.form.items()
                if name.startswith("column-") and name.split("-", 1)[1].isdigit() and value in keys
            }
            batch.mapping = json.dumps(chosen)
            save_as = " ".join((request.form.get("save_as") or "").split())[:100]
            try:
                if save_as:
                    self._save_mapping(batch, save_as, chosen)
                if "organization.name" not in chosen.values():
                    raise UnreadableFile(_("Choose the column with the organisation's name."))
                if stored_path(batch.stored_name).stat().st_size > CHECK_IN_REQUEST_MAX_BYTES:
                    return self._check_in_worker(batch)
                importing.dry_run(batch, db.session)
            except UnreadableFile as refusal:
                db.session.commit()
                flash(str(refusal), "danger")
                return redirect(url_for(".mapping", pk=pk))
            db.session.commit()
            return redirect(url_for(".show", pk=pk))
        try:
            table = importing.open_batch_table(batch)
        except UnreadableFile as refusal:
            flash(str(refusal), "danger")
            return redirect(url_for(".index"))
        preview = [row for _, row in zip(range(PREVIEW_ROWS), table.rows, strict=False)]
        mapping = importing.batch_mapping(batch)
        saved = db.session.scalars(select(ImportMapping).order_by(ImportMapping.name)).all()
        chosen_saved = request.args.get("saved", type=int)
        if chosen_saved:
            found = db.session.get(ImportMapping, chosen_saved)
            if found is not None:
                mapping = mapping_from_saved(table.header, json.loads(found.fields))
                flash(_("Mapping «%(name)s» applied.", name=found.name), "info")
        return self.render_template(
            "crm/import_mapping.html",
            title=_("Import: columns of «%(name)s»", name=batch.original_name),
            batch=batch,
            header=table.header,
            preview=preview,
            mapping=mapping,
            fields=FIELDS,
            groups=GROUP_LABELS,
            saved=saved,
            encodings=ENCODINGS,
            delimiters=DELIMITERS,
        )

    def _check_in_worker(self, batch: ImportBatch):
        from app.jobs.imports import enqueue

        batch.state, batch.message = ImportState.CHECKING, None
        db.session.commit()
        if not enqueue(batch, g.user.id, check=True):
            flash(_("The background worker cannot be reached; try again in a minute."), "danger")
        return redirect(url_for(".show", pk=batch.id))

    @staticmethod
    def _save_mapping(batch: ImportBatch, name: str, chosen: dict[int, str]) -> None:
        header = importing.open_batch_table(batch).header
        existing = db.session.scalars(select(ImportMapping).where(ImportMapping.name == name)).one_or_none()
        mapping = existing or ImportMapping(name=name)
        mapping.fields = json.dumps(mapping_to_saved(header, chosen), ensure_ascii=False)
        db.session.add(mapping)

    @expose("/<int:pk>")
    @has_access
    @permission_name("import")
    def show(self, pk: int):
        batch = _batch_or_404(pk)
        summary = json.loads(batch.summary or "{}")
        blockers = undoing.undo_blockers(batch, db.session) if batch.state in UNDOABLE_STATES else []
        return self.render_template(
            "crm/import_batch.html",
            title=_("Import #%(number)d: %(name)s", number=batch.id, name=batch.original_name),
            batch=batch,
            summary=summary,
            progress=_progress(batch),
            states=STATE_LABELS,
            blockers=blockers,
        )

    @expose("/<int:pk>/progress")
    @has_access
    @permission_name("import")
    def progress(self, pk: int):
        return jsonify(_progress(_batch_or_404(pk)))

    @expose("/<int:pk>/run", methods=["POST"])
    @has_access
    @permission_name("import")
    def run(self, pk: int):
        from app.jobs.imports import enqueue

        batch = _batch_or_404(pk)
        if batch.state != ImportState.CHECKED:
            flash(_("This import has already been started."), "warning")
            return redirect(url_for(".show", pk=pk))
        batch.state = ImportState.QUEUED
        db.session.commit()
        if enqueue(batch, g.user.id):
            flash(_("The import has started; you can leave this page."), "success")
        else:
            flash(_("The background worker cannot be reached; try again in a minute."), "danger")
        return redirect(url_for(".show", pk=pk))

    @expose("/<int:pk>/undo", methods=["POST"])
    @has_access
    @permission_name("import")
    def undo(self, pk: int):
        """Refused here with the reasons, or handed to the worker: 50,000 records outlast a request."""
        from app.jobs.imports import enqueue_undo

        batch = _batch_or_404(pk)
        if batch.state == ImportState.UNDOING:  # a second click
            return redirect(url_for(".show", pk=pk))
        if batch.state not in UNDOABLE_STATES:
            abort(404)
        if undoing.undo_blockers(batch, db.session, limit=1):
            flash(_("The import cannot be undone: its records were changed since."), "danger")
            return redirect(url_for(".show", pk=pk))
        previous_state = batch.state
        batch.state, batch.message = ImportState.UNDOING, None
        db.session.commit()
        if enqueue_undo(batch, g.user.id, previous_state):
            flash(_("The import is being undone; the page updates by itself."), "info")
        else:
            flash(_("The background worker cannot be reached; try again in a minute."), "danger")
        return redirect(url_for(".show", pk=pk))

    @expose("/<int:pk>/errors")
    @has_access
    @permission_name("import")
    def errors(self, pk: int):
        """The rows that cannot be imported, with an «Ошибка» column: fixed in Excel, uploaded again."""
        batch = _batch_or_404(pk)
        header, rows = importing.error_rows(batch, db.session)
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet(_("Errors"))
        sheet.freeze_panes = "A2"
        sheet.append([*header, _("Error")])
        for cells, error in rows:
            # Back as text (ИНН keeps its zeros) and never as a formula.
            sheet.append([_as_text_cell(sheet, value) for value in cells] + [error])
        target = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 (send_file closes it)
        workbook.save(target)
        target.seek(0)
        stem = batch.original_name.rsplit(".", 1)[0]
        return send_file(target, mimetype=XLSX_TYPE, as_attachment=True, download_name=f"{stem} — ошибки.xlsx")


def _as_text_cell(sheet, value: str):
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet, value=value)
    cell.data_type = "s"
    cell.number_format = "@"
    if is_formula_like(value):
        cell.quotePrefix = True
    return cell
