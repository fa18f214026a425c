"""Command line: keys rotate-evidence, moderation (priorities, statements, purges), seed-demo."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlmodel import Session

from core.cli import command_group
from core.config import setting
from core.db import session_scope
from core.sealed_text import reseal_all
from moderation.intake.evidence import rotate_evidence_keys
from moderation.intake.sealing import SealError
from moderation.intake.settings import current_intake


@click.command("rotate-evidence")
@with_appcontext
def rotate_evidence() -> None:
    """Rewrap every case data key under VIGIL_EVIDENCE_KEY.

    Rotation: put the new key in VIGIL_EVIDENCE_KEY and the old one in
    VIGIL_EVIDENCE_OLD_KEYS, run this command, then drop the old key from
    VIGIL_EVIDENCE_OLD_KEYS and destroy it. Sealed blobs are not touched; all keys are
    rewrapped in one transaction, so a failure leaves every key as it was.
    """
    keys = current_intake().keys

    def progress(done: int) -> None:
        if done % 1000 == 0:
            click.echo(f"  {done} data keys rewrapped ...")

    try:
        with session_scope(current_app.extensions["vigil.engine"]) as session:
            count = rotate_evidence_keys(session, keys=keys, progress=progress)
            resealed = reseal_all(session)
    except (SealError, RuntimeError) as exc:
        raise click.ClickException(
            f"{exc}; put the retired key in VIGIL_EVIDENCE_OLD_KEYS and run again"
        ) from exc
    click.echo(f"rewrapped {count} data keys under master key {keys.current.key_id}")
    click.echo(f"resealed {resealed} rows of sealed values under the same master key")


moderation_cli = AppGroup("moderation", help="Cases and queues.")


@moderation_cli.command("refresh-priorities")
@click.option("--every", type=int, default=0, help="Repeat every N seconds (a sidecar).")
def refresh_priorities_command(every: int) -> None:
    """Bring the age part of every open case's priority up to date (run hourly or as a sidecar)."""
    import time

    from core.timeutil import utcnow
    from moderation.intake.cases import refresh_priorities

    while True:
        with session_scope(current_app.extensions["vigil.engine"]) as session:
            changed = refresh_priorities(session, now=utcnow())
        click.echo(f"{changed} open cases re-prioritised")
        if not every:
            return
        time.sleep(every)


@moderation_cli.command("export-statements")
@click.option(
    "--since",
    required=True,
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="First day (YYYY-MM-DD, UTC) of the decisions to export.",
)
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="JSON Lines file to write (default: standard output).",
)
def export_statements(since, out_file: Path | None) -> None:
    """Statements of reasons as JSON Lines, ready for the DSA Transparency Database API."""
    from moderation.review.statements import dumps, statements_since

    with Session(current_app.extensions["vigil.engine"]) as session:
        lines = [dumps(statement) for statement in statements_since(session, since.date())]
    text = "".join(line + "\n" for line in lines)
    if out_file is None:
        click.echo(text, nl=False)
    else:
        out_file.write_text(text, encoding="utf-8")
        click.echo(f"{len(lines)} statements written to {out_file}", err=True)


@moderation_cli.command("purge-expired")
@click.option("--dry-run", is_flag=True, help="List what would be purged; change nothing.")
def purge_expired_command(dry_run: bool) -> None:
    """Crypto-shred evidence past its retention (no active hold, appeal window closed)."""
    from core.timeutil import utcnow
    from moderation.review.retention import expired_cases, purge_expired
    from moderation.review.rules import current_rules

    now, rules = utcnow(), current_rules()
    with Session(current_app.extensions["vigil.engine"]) as session:
        if dry_run:
            refs = [case.ref for case in expired_cases(session, now=now, rules=rules)]
        else:
            refs = purge_expired(session, now=now, rules=rules)
            session.commit()
    verb = "would be purged" if dry_run else "purged"
    click.echo(f"{len(refs)} case(s) {verb}" + (": " + ", ".join(refs) if refs else ""))


@click.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Only seed a database without accounts.")
@with_appcontext
def seed_demo_command(if_empty: bool) -> None:
    """Create harmless demo accounts and data (idempotent) and print the logins."""
    from access_control.accounts import count_accounts
    from access_control.demo import print_logins, saved_logins
    from moderation.demo import seed_demo
    from moderation.intake.notice import notifier_pepper

    if setting("ENV") == "production":
        raise click.ClickException("demo data is never seeded in production")
    instance = current_app.config["VIGIL_INSTANCE"]
    with session_scope(current_app.extensions["vigil.engine"]) as session:
        if if_empty and count_accounts(session) > 0:
            logins = saved_logins(instance)
            if logins is None:
                click.echo("The database already has accounts; no demo data added.")
                return
        else:
            logins = seed_demo(
                session, instance=instance, settings=current_intake(), pepper=notifier_pepper()
            )
    print_logins(logins)


@click.command("seed-bulk")
@click.option("--users", type=click.IntRange(0, 10_000_000), default=100_000, show_default=True)
@click.option("--cases", type=click.IntRange(0, 99_999_999), default=1_000_000, show_default=True)
@click.option(
    "--entries", type=click.IntRange(0, 500_000_000), default=5_000_000, show_default=True
)
@with_appcontext
def seed_bulk_command(users: int, cases: int, entries: int) -> None:
    """Add bulk accounts, reported cases and access-log entries (scale tests, benchmarks).

    One transaction: an interrupted run adds nothing. Never in production."""
    import sys
    import time

    from core.keys import key_ring
    from moderation.bulk import PASSWORD, seed_bulk

    if setting("ENV") == "production":
        raise click.ClickException("bulk data is never seeded in production")
    started = time.monotonic()

    def progress(label: str, total: int):
        return click.progressbar(length=total, label=f"{label:<30}", file=sys.stderr)

    seeded = seed_bulk(
        current_app.extensions["vigil.engine"],
        ring=key_ring(),
        users=users,
        cases=cases,
        entries=entries,
        progress=progress,
    )
    click.echo(
        f"seeded {seeded.users:,} accounts ({seeded.staff:,} with a staff role), "
        f"{seeded.cases:,} reported cases and {seeded.entries:,} access-log entries "
        f"in {time.monotonic() - started:.0f} s; every seeded account's password is "
        f"{PASSWORD!r} (staff enrol a second factor at first sign-in)"
    )


def init_app(app: Flask) -> None:
    """Attach `moderation`, `seed-demo`, `seed-bulk`, `keys rotate-evidence` (`keys` is shared)."""
    app.cli.add_command(moderation_cli)
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(seed_bulk_command)
    command_group(app, "keys", "Key rotation.").add_command(rotate_evidence)
