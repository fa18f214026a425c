"""Taking checkpoints: once, or on a schedule as a sidecar process."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from audit.checkpoints import build_checkpoint, checkpoint_due, write_checkpoint_file
from audit.models import AuditCheckpoint
from audit.signing import Signer, remember_key
from core.db import read_only, session_scope
from core.timeutil import utcnow


@dataclass(frozen=True)
class CheckpointJob:
    """Everything a checkpoint needs: where the log is, who signs, where copies go."""

    engine: Engine
    signer: Signer
    origin: str
    directory: Path
    keys_file: Path


def checkpoint_now(
    job: CheckpointJob, *, heartbeat: timedelta | None = None
) -> AuditCheckpoint | None:
    """Sign, store and copy out a checkpoint; with a heartbeat, only if one is due."""
    remember_key(job.keys_file, job.signer.verifier_key)  # it must verify later, too
    now = utcnow()
    # Read in a deferred transaction: on SQLite an IMMEDIATE one would stall appends
    # for as long as the leaves take to read.
    with Session(read_only(job.engine), expire_on_commit=False) as reader:
        if heartbeat is not None and not checkpoint_due(reader, heartbeat=heartbeat, now=now):
            return None
        checkpoint = build_checkpoint(reader, signer=job.signer, origin=job.origin, now=now)
    with session_scope(job.engine) as writer:
        writer.add(checkpoint)
    # Copy out only after the row committed: a file always has its row.
    write_checkpoint_file(job.directory, checkpoint)
    return checkpoint


def run_every(
    job: CheckpointJob,
    *,
    every: float,
    heartbeat: timedelta,
    report: Callable[[AuditCheckpoint | None], None],
    warn: Callable[[str], None],
    sleep: Callable[[float], None] | None = None,
) -> None:
    """Checkpoint when the log changed or the heartbeat is due, forever (Ctrl-C stops).

    A database that is briefly unreachable skips a round; a log that contradicts the
    last checkpoint (CheckpointError) stops the loop, loudly.
    """
    while True:
        try:
            report(checkpoint_now(job, heartbeat=heartbeat))
        except OperationalError as exc:
            warn(f"checkpoint skipped, database unavailable: {exc.orig or exc}")
        (sleep or time.sleep)(every)
