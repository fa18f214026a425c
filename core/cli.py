"""The `db` and `backup` command groups; other groups are registered by their package."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlmodel import Session

from core import backup
from core.db import session_scope

db_cli = AppGroup("db", help="Database schema.")
BACKUP_HELP = """Back up and restore the whole database.

\b
A backup holds the database only: accounts, policy, cases, reports, the access log and its
checkpoint rows. Evidence and message text in it stay sealed: the keys (VIGIL_EVIDENCE_KEY,
VIGIL_AUDIT_MAC_KEY, VIGIL_AUDIT_SIGNING_KEY, VIGIL_SECRET_KEY) are not in it, and a restore
is useless without them. Checkpoint copies (VIGIL_CHECKPOINT_DIR) are not in it either: they
live on write-once storage so that whoever holds the database, or a backup, cannot rewrite
them; after a restore, `audit verify` holds the restored log against them."""
backup_cli = AppGroup("backup", help=BACKUP_HELP)
AfterUpgrade = Callable[[Session], str]


def after_upgrade(app: Flask, hook: AfterUpgrade) -> None:
    """Run `hook(session)` after every `db upgrade` (packages load their baseline data)."""
    app.extensions.setdefault("vigil.after_upgrade", []).append(hook)


def command_group(app: Flask, name: str, help_text: str) -> AppGroup:
    """The app's command group `name`, created on first use (packages share `keys`)."""
    group = app.cli.commands.get(name)
    if group is None:
        group = AppGroup(name, help=help_text)
        app.cli.add_command(group)
    return group


def _engine():
    return current_app.extensions["vigil.engine"]


@db_cli.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations, then each package's baseline data (the policy, for one)."""
    from core import migrate

    migrate.upgrade(_engine(), revision)
    said = []
    with session_scope(_engine()) as session:
        for hook in current_app.extensions.get("vigil.after_upgrade", []):
            said.append(hook(session))
    click.echo("; ".join([f"database at {revision}", *said]))


@db_cli.command("revision")
@click.option("-m", "--message", required=True)
def db_revision(message: str) -> None:
    """Autogenerate a migration from the models (developers)."""
    from core import migrate

    migrate.revision(_engine(), message)


@backup_cli.command("create")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write it (a new file, mode 0600); default instance/backups/vigil-<time>.",
)
def backup_create(output: Path | None) -> None:
    """Back up the whole database while the app keeps writing (SQLite: the online backup
    API; PostgreSQL: pg_dump --format=custom). Keys and checkpoint copies are not included."""
    url = current_app.config["VIGIL"]["DATABASE_URL"]
    target = output or backup.default_path(current_app.config["VIGIL_INSTANCE"] / "backups", url)
    try:
        written = backup.create_backup(url, target)
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"backup written to {written} ({written.stat().st_size:,} bytes, mode 0600)")
    click.echo(f"sha256 {backup.file_sha256(written)}")


@backup_cli.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--to", "to_url", help="The database to restore into; default VIGIL_DATABASE_URL.")
@click.option("--replace", is_flag=True, help="Discard what a non-empty target database holds.")
def backup_restore(path: Path, to_url: str | None, replace: bool) -> None:
    """Restore a backup into an empty database (refused for a non-empty one unless
    --replace), then check its integrity. Run `audit verify` afterwards, with the same keys."""
    url = backup.engine_url(to_url or current_app.config["VIGIL"]["DATABASE_URL"])
    try:
        restored = backup.restore_backup(path, url, replace=replace)
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    rows = sum(restored.counts.values())
    click.echo(f"restored {rows:,} rows in {len(restored.counts)} tables")
    click.echo(f"integrity: {restored.integrity}")
    if restored.integrity != "ok":
        sys.exit(1)
    click.echo("next: `flask --app app db upgrade` (if the code is newer), `audit verify`")


VIGIL_HELP = (
    "Vigil: the trust-and-safety back office (reports, cases, reviews, the access log, the "
    "training door). The commands above are Vigil's, except Flask's own run, routes and "
    "shell: start with `db upgrade`, then `seed-demo` for demo data, or `users create` for "
    "a first admin. The README's 'Command line' section shows each with its options."
)


def describe_vigil() -> None:
    """`flask --app app --help` ends with what Vigil is: Flask prints its own text before it
    loads the app, so Vigil adds an epilog to the running command group (Click prints the
    epilog after the commands, which is when the app is loaded)."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None and isinstance(ctx.command, click.Group) and not ctx.command.epilog:
        ctx.command.epilog = VIGIL_HELP


def init_app(app: Flask) -> None:
    """Attach the `db` and `backup` groups; describe Vigil in the command line's help."""
    app.cli.add_command(db_cli)
    app.cli.add_command(backup_cli)
    describe_vigil()
