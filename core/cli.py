"""The `db` command group; every other group is registered by its own package's init_app."""

from __future__ import annotations

from collections.abc import Callable

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlmodel import Session

from core.db import session_scope

db_cli = AppGroup("db", help="Database schema.")
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
    """Attach the `db` group; describe Vigil in the command line's help."""
    app.cli.add_command(db_cli)
    describe_vigil()
