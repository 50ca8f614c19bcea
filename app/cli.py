"""`flask crm ...`: set-up, accounts, demo data and backups (`make run` is app/launcher.py)."""

from __future__ import annotations

import os
from pathlib import Path

import click
from flask.cli import with_appcontext
from flask_babel import gettext as _
from flask_migrate import upgrade

from app import accounts
from app.models.users import RecordScope
from config import INSTANCE_DIR

ADMIN_PASSWORD_FILE = INSTANCE_DIR / "admin-password.txt"


@click.group("crm")
def crm_cli() -> None:
    """ZapTrade CRM commands."""


@crm_cli.command("init")
@with_appcontext
def init_command() -> None:
    """Apply migrations, sync roles and permissions, create the administrator if missing."""
    initialise()


def initialise() -> str:
    """Bring the database and the downloadable Agent up to this code; the line telling how to log in."""
    upgrade()
    accounts.sync_roles_and_permissions()
    _build_agent()
    admin, password = accounts.ensure_admin(os.environ.get("ADMIN_PASSWORD"))
    if password is None:
        if ADMIN_PASSWORD_FILE.exists():
            return f"Log in as {admin.username}; the first password is in {ADMIN_PASSWORD_FILE}"
        return f"Log in as {admin.username} with the password set at the first start (ADMIN_PASSWORD)."
    if os.environ.get("ADMIN_PASSWORD"):
        hint = f"Log in as {admin.username} with the password from ADMIN_PASSWORD."
    else:
        ADMIN_PASSWORD_FILE.write_text(password + "\n")
        ADMIN_PASSWORD_FILE.chmod(0o600)
        hint = (
            f"Log in as {admin.username} / {password}  (also saved in {ADMIN_PASSWORD_FILE}; change it in the profile)"
        )
    click.echo(f"Created the administrator. {hint}")
    return hint


def _build_agent() -> None:
    """The «Агент» page always offers the Agent of this code (agent/build.py; also `make agent`)."""
    from agent import build
    from app.domain import agent_devices

    path = agent_devices.download_path(INSTANCE_DIR)
    try:
        manifest = build.build(path)
    except OSError as exc:  # the page builds it on the first download anyway
        click.echo(f"The downloadable Agent was not built ({exc}); it will be built on the first download.")
        return
    click.echo(f"Downloadable Agent {manifest['version']}: {path}")


@crm_cli.command("create-manager")
@click.option("--username", required=True)
@click.option("--email", required=True)
@click.option("--first-name", required=True)
@click.option("--last-name", default="")
@click.option(
    "--scope",
    type=click.Choice(["own", "all"]),
    default="own",
    show_default=True,
    help="own: only clients and requests he is responsible for; all: every record",
)
@click.password_option()
@with_appcontext
def create_manager_command(
    username: str, email: str, first_name: str, last_name: str, scope: str, password: str
) -> None:
    """Create a manager's account."""
    try:
        user = accounts.create_manager(username, password, email, first_name, last_name, RecordScope(scope))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Created manager {user.username}.")


@crm_cli.command("demo")
@click.option("--orgs", type=click.IntRange(min=1), default=200, show_default=True, help="organisations to create")
@click.option("--append", is_flag=True, help="add to a database that already has organisations")
@click.option("--seed", type=int, default=None, help="the same seed on an empty database gives the same data")
@click.option("--password", envvar="DEMO_PASSWORD", default=None, help="for new demo managers (default: generated)")
@with_appcontext
def demo_command(orgs: int, append: bool, seed: int | None, password: str | None) -> None:
    """Fill the database with demo clients, requests and reminders (about 3 contacts and 4 requests
    per organisation). Refuses a database that already has organisations unless --append is given."""
    from app import demo

    initialise()
    try:
        result = demo.load_demo(orgs, append=append, seed=seed, password=password, progress=click.echo)
    except (demo.DemoRefused, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(result.summary())


@crm_cli.command("backup")
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="a folder or an archive name (default: BACKUP_FOLDER, keeping the newest BACKUP_KEEP archives)",
)
@with_appcontext
def backup_command(output: Path | None) -> None:
    """Write one archive: a consistent dump of the database, the uploaded files and a manifest."""
    from app import backup
    from app.formatting import file_size

    try:
        if output is None:
            outcome = backup.run_backup("command")
            if not outcome["ok"]:
                raise backup.BackupError(outcome["error"], outcome.get("detail") or "")
            path, size, seconds = backup.backup_folder() / outcome["file"], outcome["size"], outcome["seconds"]
        else:
            result = backup.write_backup(output)
            path, size, seconds = result.path, result.size, result.seconds
    except backup.BackupError as error:
        raise click.ClickException(_cli_message(error)) from error
    click.echo(_("Backup saved: %(path)s (%(size)s, %(seconds)s s).", path=path, size=file_size(size), seconds=seconds))


@crm_cli.command("restore")
@click.argument("archive", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="empty a database (and upload folder) that holds data, then restore")
@with_appcontext
def restore_command(archive: Path, force: bool) -> None:
    """Restore an archive made by `flask crm backup` into an empty database (stop the web server
    and the workers first). The archive is checked against its manifest before anything changes."""
    from app import backup

    try:
        result = backup.restore_backup(archive, force=force)
    except backup.BackupError as error:
        raise click.ClickException(_cli_message(error)) from error
    rows = sum(result.tables.values())
    click.echo(
        _(
            "Restored %(rows)d rows in %(tables)d tables and %(files)d files (schema %(revision)s) in %(seconds)s s.",
            rows=rows,
            tables=len(result.tables),
            files=result.files,
            revision=result.schema_revision,
            seconds=result.seconds,
        )
    )
    if result.upgraded_to:
        click.echo(_("The schema was then upgraded to %(revision)s.", revision=result.upgraded_to))


def _cli_message(error: Exception) -> str:
    detail = getattr(error, "detail", "")
    return f"{error}\n{detail}" if detail else str(error)
