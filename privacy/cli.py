"""Command-line groups of the user's side: `training` (export, feedback-stats), `privacy`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlmodel import Session

from access_control.accounts import find_by_email
from core.config import setting
from core.db import session_scope
from privacy.consent import ConsentError, Owner, explain, set_privacy
from privacy.models import ConsentSource, Plan

training_cli = AppGroup("training", help="The training export and feedback statistics.")
privacy_cli = AppGroup("privacy", help="Plans and training choices of accounts.")

ADMIN_ACTOR = "administrator (command line)"


def training_engine():
    """The engine of the export's own read-only role (TRAINING_DATABASE_URL), else the app's."""
    url = setting("TRAINING_DATABASE_URL")
    if not url:
        return current_app.extensions["vigil.engine"], False
    from core.db import make_engine
    from core.sealed_text import attach_keys

    engine = make_engine(url)
    attach_keys(engine, current_app.extensions["vigil.keys"].evidence)
    return engine, True


@training_cli.command("export")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for shards and manifest.json; run again to resume after a crash.",
)
@click.option("--shard-size", default=2000, show_default=True, type=click.IntRange(1, 100_000))
def training_export(out_dir: Path, shard_size: int) -> None:
    """Write the de-identified training export (JSON Lines shards + manifest.json)."""
    from privacy.training.export import ExportError, ExportOptions, run_export

    engine, own = training_engine()
    options = ExportOptions(
        out_dir=out_dir,
        shard_size=shard_size,
        feedback_overrides_opt_out=setting("FEEDBACK_OVERRIDES_OPT_OUT"),
    )
    bar = None

    def progress(advance: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = click.progressbar(length=total, label="conversations", file=sys.stderr)
            bar.__enter__()
        bar.update(advance)

    try:
        manifest = run_export(engine, options, progress=progress)
    except ExportError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
        if own:
            engine.dispose()
    included = manifest["included"]
    click.echo(
        f"export {manifest['export_id']}: {included['conversations']} conversations and "
        f"{included['feedback_items']} feedback items in {len(manifest['shards'])} shards; "
        f"excluded {json.dumps(manifest['excluded'], sort_keys=True)}; "
        f"manifest {out_dir / 'manifest.json'}"
    )


@training_cli.command("grants")
@click.option("--role", required=True, help="The export's PostgreSQL login role.")
def training_grants(role: str) -> None:
    """Print the GRANTs of the export's own read-only role (run them as the table owner)."""
    from privacy.training.export import ExportError, grant_statements

    try:
        click.echo("\n".join(grant_statements(role)))
    except ExportError as exc:
        raise click.ClickException(str(exc)) from exc


@training_cli.command("feedback-stats")
def training_feedback_stats() -> None:
    """Ratings by model and rating as JSON; cells under 10 are shown as null."""
    from privacy.feedback import SMALL_CELL, feedback_statistics

    with Session(current_app.extensions["vigil.engine"]) as session:
        cells = feedback_statistics(session)
    click.echo(
        json.dumps(
            {
                "suppressed_below": SMALL_CELL,
                "cells": [
                    {"model_id": c.model_id, "rating": c.rating, "count": c.count} for c in cells
                ],
            },
            indent=2,
        )
    )


@privacy_cli.command("set-plan")
@click.option("--email", required=True)
@click.option("--plan", required=True, type=click.Choice([p.value for p in Plan]))
@click.option(
    "--opt-out/--no-opt-out",
    "opt_out",
    default=None,
    help="Record the person's training choice as they asked (default: keep it).",
)
def privacy_set_plan(email: str, plan: str, opt_out: bool | None) -> None:
    """Set an account's plan (and, at their request, their training choice)."""
    with session_scope(current_app.extensions["vigil.engine"]) as session:
        user = find_by_email(session, email)
        if user is None:
            raise click.ClickException(f"no account {email}")
        try:
            row = set_privacy(
                session,
                Owner(user_id=user.id),
                plan=Plan(plan),
                opt_out=opt_out,
                source=ConsentSource.ADMIN,
                actor=ADMIN_ACTOR,
            )
        except ConsentError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"{email}: {explain(row)}")


def init_app(app: Flask) -> None:
    app.cli.add_command(training_cli)
    app.cli.add_command(privacy_cli)
