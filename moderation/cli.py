"""Command line: `keys rotate-evidence` and `moderation refresh-priorities`."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from core.db import session_scope
from moderation.evidence import evidence_keys, rotate_evidence_keys
from moderation.sealing import SealError
from privacy.conversations import reseal_message_texts


@click.command("rotate-evidence")
@with_appcontext
def rotate_evidence() -> None:
    """Rewrap every case data key under VIGIL_EVIDENCE_KEY.

    Rotation: put the new key in VIGIL_EVIDENCE_KEY and the old one in
    VIGIL_EVIDENCE_OLD_KEYS, run this command, then drop the old key from
    VIGIL_EVIDENCE_OLD_KEYS and destroy it. Sealed blobs are not touched; all keys are
    rewrapped in one transaction, so a failure leaves every key as it was.
    """
    keys = evidence_keys(current_app.config["VIGIL"])

    def progress(done: int) -> None:
        if done % 1000 == 0:
            click.echo(f"  {done} data keys rewrapped ...")

    try:
        with session_scope(current_app.extensions["vigil.engine"]) as session:
            count = rotate_evidence_keys(session, keys=keys, progress=progress)
            messages = reseal_message_texts(session)
    except (SealError, RuntimeError) as exc:
        raise click.ClickException(
            f"{exc}; put the retired key in VIGIL_EVIDENCE_OLD_KEYS and run again"
        ) from exc
    click.echo(f"rewrapped {count} data keys under master key {keys.current.key_id}")
    click.echo(f"resealed {messages} stored message texts under the same master key")


moderation_cli = AppGroup("moderation", help="Cases and queues.")


@moderation_cli.command("refresh-priorities")
@click.option("--every", type=int, default=0, help="Repeat every N seconds (a sidecar).")
def refresh_priorities_command(every: int) -> None:
    """Bring the age part of every open case's priority up to date (run hourly or as a sidecar)."""
    import time

    from core.timeutil import utcnow
    from moderation.cases import refresh_priorities

    while True:
        with session_scope(current_app.extensions["vigil.engine"]) as session:
            changed = refresh_priorities(session, now=utcnow())
        click.echo(f"{changed} open cases re-prioritised")
        if not every:
            return
        time.sleep(every)


def register_cli(app: Flask) -> None:
    """Attach `tokens` and `keys rotate-evidence`; `keys` may be shared with other packages."""
    from moderation.tokens import tokens_cli

    app.cli.add_command(tokens_cli)
    app.cli.add_command(moderation_cli)
    keys = app.cli.commands.get("keys")
    if keys is None:
        keys = AppGroup("keys", help="Key rotation.")
        app.cli.add_command(keys)
    keys.add_command(rotate_evidence)
