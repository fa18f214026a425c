"""`flask --app app audit ...` (verify, checkpoint, prove, check-proof, erase-note) and
`keys rotate-signing`."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlmodel import Session

from access_control.journal import EventType, record_event
from audit.access_log import erase_note, log_head
from audit.checkpoints import CheckpointError, checkpoint_dir
from audit.proofs import check_proof, prove_consistency, prove_inclusion
from audit.sidecar import CheckpointJob, Schedule, checkpoint_now, run_sidecar
from audit.signing import (
    KeyRotationError,
    current_signer,
    known_keys,
    read_verifier_keys,
    rotate_signing_key,
    verifier_keys_path,
)
from audit.tlog.merkle import ProofError
from audit.tlog.signed_note import NoteError
from audit.verify import VerifyJob, verify_and_record
from core.cli import command_group
from core.db import read_only, session_scope
from core.keys import key_ring
from core.serve import add_sidecar

audit_cli = AppGroup("audit", help="The content access log: verify, checkpoint, prove.")


def _engine():
    return current_app.extensions["vigil.engine"]


def _settings() -> dict:
    return current_app.config["VIGIL"]  # whole mapping: checkpoint paths read several keys


def _keys_file() -> Path:
    return verifier_keys_path(_settings(), current_app.config["VIGIL_INSTANCE"])


def _trusted(extra: tuple[str, ...]):
    try:
        return known_keys([*read_verifier_keys(_keys_file()), *extra], current_signer())
    except (NoteError, ValueError) as exc:
        raise click.ClickException(f"bad verifier key: {exc}") from exc


def _job() -> CheckpointJob:
    settings, instance = _settings(), current_app.config["VIGIL_INSTANCE"]
    return CheckpointJob(
        engine=_engine(),
        signer=current_signer(),
        keys=_trusted(()),
        mac_key=key_ring().entry_mac,
        origin=settings["AUDIT_ORIGIN"],
        directory=checkpoint_dir(settings, instance),
        keys_file=_keys_file(),
    )


def verify_job(extra_keys: tuple[str, ...] = ()) -> VerifyJob:
    """The running app's verification: its keys, MAC key, checkpoint copies, interval."""
    settings, instance = _settings(), current_app.config["VIGIL_INSTANCE"]
    return VerifyJob(
        engine=_engine(),
        keys=_trusted(extra_keys),
        origin=settings["AUDIT_ORIGIN"],
        mac_key=key_ring().entry_mac,
        directory=checkpoint_dir(settings, instance),
        interval=timedelta(seconds=settings["CHECKPOINT_INTERVAL_SECONDS"]),
    )


def _age(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


@audit_cli.command("verify")
@click.option(
    "--checkpoint",
    "files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="An external checkpoint note to hold the log against; repeatable.",
)
@click.option("--key", "extra_keys", multiple=True, help="Another trusted verifier key.")
def verify(files: tuple[Path, ...], extra_keys: tuple[str, ...]) -> None:
    """Recompute the whole log; list every problem; exit 0 only when clean."""
    job = verify_job(extra_keys)
    with Session(read_only(job.engine)) as session:
        total = log_head(session)[0]
    with click.progressbar(length=total, label="verifying", file=sys.stderr) as bar:
        _run, report = verify_and_record(job, trigger="cli", files=files, progress=bar.update)
    for problem in report.problems:
        click.echo(f"PROBLEM {problem.code}: {problem.message}")
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    if report.redacted:
        click.echo(
            f"redacted notes (erasure recorded, chain intact): {len(report.redacted)} entries"
        )
    if report.anchor_age is None:
        click.echo("anchor: no signed checkpoint")
    else:
        click.echo(
            f"anchor: {report.anchored} of {report.size} entries signed; newest checkpoint "
            f"{_age(report.anchor_age.total_seconds())} old"
        )
    verdict = "OK" if report.ok else f"FAILED with {len(report.problems)} problems"
    click.echo(f"{verdict}: {report.size} entries, {report.checkpoints} signed checkpoints checked")
    sys.exit(0 if report.ok else 1)


def schedule() -> Schedule:
    """The sidecar's schedule from the settings."""
    settings = _settings()
    return Schedule(
        interval=timedelta(seconds=settings["CHECKPOINT_INTERVAL_SECONDS"]),
        max_entries=settings["CHECKPOINT_MAX_ENTRIES"],
        heartbeat=timedelta(hours=1),
        verify_every=timedelta(seconds=settings["VERIFY_EVERY_SECONDS"]),
    )


@audit_cli.command("checkpoint")
def checkpoint() -> None:
    """Sign the log's size, root and chain head now; copy the note to CHECKPOINT_DIR."""
    try:
        row = checkpoint_now(_job())
    except CheckpointError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"checkpoint {row.id}: size {row.tree_size}, key {row.key_id}")
    click.echo(f"  copied to {row.file_name}")


@audit_cli.command("sidecar")
@click.option(
    "--every",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Seconds between rounds.",
)
def sidecar(every: int) -> None:
    """Run beside the app servers (one per deployment): sign checkpoints on time and on
    volume, verify the log on a schedule and when an auditor asks. Ctrl-C stops."""
    plan = schedule()
    click.echo(
        f"sidecar: a round every {every}s; signing within "
        f"{int(plan.interval.total_seconds() // 2)}s or {plan.max_entries} entries; "
        f"verifying every {int(plan.verify_every.total_seconds())}s; Ctrl-C stops"
    )
    try:
        run_sidecar(
            _job(),
            verify_job(),
            schedule=plan,
            every=every,
            report=click.echo,
            warn=lambda message: click.echo(message, err=True),
        )
    except KeyboardInterrupt:
        click.echo("stopped")


@audit_cli.command("prove")
@click.option("--index", type=int, help="Inclusion: the entry (leaf) index.")
@click.option("--size", type=int, help="Inclusion: the tree size (default: the log's size).")
@click.option("--from", "size1", type=int, help="Consistency: the older tree size.")
@click.option("--to", "size2", type=int, help="Consistency: the newer tree size.")
def prove(index: int | None, size: int | None, size1: int | None, size2: int | None) -> None:
    """Print an inclusion or consistency proof as JSON."""
    origin = _settings()["AUDIT_ORIGIN"]
    with Session(read_only(_engine())) as session:
        try:
            if index is not None and size1 is None and size2 is None:
                size = log_head(session)[0] if size is None else size
                doc = prove_inclusion(session, origin=origin, index=index, size=size)
            elif size1 is not None and size2 is not None and index is None and size is None:
                doc = prove_consistency(session, origin=origin, size1=size1, size2=size2)
            else:
                raise click.UsageError("use --index N [--size S], or --from S1 --to S2")
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
    doc["verifier_key"] = current_signer().verifier_key
    click.echo(json.dumps(doc, indent=2, sort_keys=True))


@audit_cli.command("check-proof")
@click.argument("proof_file", type=click.File("r"))
@click.option("--key", "extra_keys", multiple=True, help="A trusted verifier key; repeatable.")
def check_proof_command(proof_file, extra_keys: tuple[str, ...]) -> None:
    """Verify a proof printed by `audit prove` (what a third party would do)."""
    try:
        doc = json.load(proof_file)
        shown = check_proof(doc, keys=_trusted(extra_keys))
    except (ProofError, ValueError, KeyError, TypeError) as exc:
        raise click.ClickException(f"proof rejected: {exc}") from exc
    for line in shown:
        click.echo(line)


@audit_cli.command("erase-note")
@click.option("--seq", type=int, required=True)
@click.option("--reason", required=True, help="Why (e.g. the erasure request reference).")
def erase_note_command(seq: int, reason: str) -> None:
    """Erase an entry's free-text note and salt (GDPR); the chain still verifies."""
    with session_scope(_engine()) as session:
        erased = erase_note(session, actor=None, seq=seq, reason=reason)
    click.echo(f"note of entry {seq} erased" if erased else f"entry {seq} has no note")


@click.command("rotate-signing")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None)
@with_appcontext
def rotate_signing(out: Path | None) -> None:
    """New checkpoint signing key; the old public key stays trusted for verification."""
    instance = current_app.config["VIGIL_INSTANCE"]
    try:
        old, new = rotate_signing_key(_settings(), instance, old=current_signer(), out=out)
    except KeyRotationError as exc:
        raise click.ClickException(str(exc)) from exc
    with session_scope(_engine()) as session:
        record_event(
            session,
            event_type=EventType.KEYS_SIGNING_ROTATED,
            actor=None,
            target_type="signing_key",
            target_id=new.key_id,
            target_label=new.verifier_key,
            reason="keys rotate-signing",
            before=old.verifier_key,
            after=new.verifier_key,
        )
    click.echo(f"new signing key {new.key_id}; trusted keys in {_keys_file()}")
    click.echo(f"verifier key (publish it): {new.verifier_key}")
    if out is not None:
        click.echo(f"set VIGIL_AUDIT_SIGNING_KEY_FILE={out} and restart the checkpoint sidecar")


def init_app(app: Flask) -> None:
    """Attach the `audit` group and `keys rotate-signing`."""
    app.cli.add_command(audit_cli)
    add_sidecar(app, "checkpoint sidecar", "audit", "sidecar")
    command_group(app, "keys", "Key rotation.").add_command(rotate_signing)
