"""«Резервные копии»: the administrator sees the last backup and the kept archives, starts one now
(made by a worker, never in the web request) and downloads an archive to keep it off the server.

Archives hold every record and every file (and the users' password hashes), so the page and its
downloads are the administrator's alone: FAB's permission (only the Admin role has it) and the
access policy's check both guard them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from flask import abort, current_app, flash, g, redirect, send_file, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from redis.exceptions import RedisError

from app import access, backup
from app.jobs.backups import queue_backup_now

TRIGGER_LABELS = {
    "schedule": _l("On schedule"),
    "button": _l("From this page"),
    "command": _l("By the command flask crm backup"),
}


def _moment(stamp: str | None) -> datetime | None:
    if not stamp:
        return None
    try:
        return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


class BackupsView(BaseView):
    route_base = "/backups"
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        access.administrator_or_404()
        status = backup.read_status()
        archives = [
            {"name": path.name, "size": stat.st_size, "at": datetime.fromtimestamp(stat.st_mtime, UTC)}
            for path in backup.kept_archives(backup.backup_folder())
            if (stat := _stat(path)) is not None
        ]
        healthy, health = backup.backup_health()
        return self.render_template(
            "crm/backups.html",
            title=_("Backups"),
            status=status,
            last=status.get("last"),
            last_success=status.get("last_success"),
            last_scheduled=status.get("last_scheduled"),
            running=backup.is_running(),
            archives=archives,
            healthy=healthy,
            health=health,
            moment=_moment,
            trigger_labels=TRIGGER_LABELS,
            config=current_app.config,
        )

    @expose("/run", methods=["POST"])
    @has_access
    def run(self):
        access.administrator_or_404()
        try:
            queued = queue_backup_now(g.user.id)
        except RedisError:
            flash(_("The job queue (Redis) is unreachable, so the backup was not started. Try again later."), "danger")
            return redirect(url_for(".index"))
        if queued:
            flash(_("The backup is being made by a worker; refresh this page in a minute."), "success")
        else:
            flash(_("A backup is already being made; wait until it finishes."), "warning")
        return redirect(url_for(".index"))

    @expose("/download/<string:name>")
    @has_access
    def download(self, name: str):
        access.administrator_or_404()
        if not backup.ARCHIVE_NAME.fullmatch(name):
            abort(404)
        path = backup.backup_folder() / name
        if not path.is_file():
            abort(404)
        return send_file(path, mimetype="application/gzip", as_attachment=True, download_name=name)


def _stat(path: Path):
    try:
        return path.stat()
    except FileNotFoundError:  # removed by retention meanwhile
        return None
