"""The checkpoint sidecar: signs checkpoints on time and on volume, verifies the whole log
on a schedule and when an auditor asks, forever (Ctrl-C stops). One per deployment."""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import Session, col, func, select

from audit.checkpoints import (
    CheckpointError,
    SignedIndex,
    build_checkpoint,
    checkpoint_due,
    write_checkpoint_file,
)
from audit.models import AuditCheckpoint, VerificationRun, VerifyRequest
from audit.signing import KnownKeys, Signer, remember_key
from audit.verify import VerifyJob, verify_and_record
from core.db import is_postgres, read_only, session_scope
from core.timeutil import as_utc, utcnow


@dataclass(frozen=True)
class CheckpointJob:
    """Everything a checkpoint needs: where the log is, who signs, where copies go."""

    engine: Engine
    signer: Signer
    keys: KnownKeys
    mac_key: bytes
    origin: str
    directory: Path
    keys_file: Path


@dataclass(frozen=True)
class Schedule:
    """When the sidecar signs and verifies (see VIGIL_CHECKPOINT_* and VERIFY_EVERY_*)."""

    interval: timedelta
    max_entries: int
    heartbeat: timedelta
    verify_every: timedelta


def checkpoint_now(
    job: CheckpointJob,
    *,
    schedule: Schedule | None = None,
    index: SignedIndex | None = None,
    now: datetime | None = None,
) -> AuditCheckpoint | None:
    """Sign, store and copy out a checkpoint; with a schedule, only if one is due.

    The last checkpoint is the largest one whose signed note verifies: a row with bogus
    columns, or no valid signature, cannot stop checkpointing."""
    remember_key(job.keys_file, job.signer.verifier_key)  # it must verify later, too
    now = now or utcnow()
    index = index or SignedIndex(keys=job.keys, origin=job.origin)
    # Read in a deferred transaction: on SQLite an IMMEDIATE one would stall appends
    # for as long as the leaves take to read.
    with Session(read_only(job.engine), expire_on_commit=False) as reader:
        latest = index.refresh(reader)
        if schedule is not None and not checkpoint_due(
            reader,
            latest=latest,
            now=now,
            interval=schedule.interval,
            max_entries=schedule.max_entries,
            heartbeat=schedule.heartbeat,
        ):
            return None
        checkpoint = build_checkpoint(
            reader,
            signer=job.signer,
            origin=job.origin,
            latest=latest,
            mac_key=job.mac_key,
            now=now,
        )
    with session_scope(job.engine) as writer:
        writer.add(checkpoint)
    # Copy out only after the row committed: a file always has its row.
    write_checkpoint_file(job.directory, checkpoint)
    return checkpoint


@dataclass
class VerifyClock:
    """When the sidecar last verified, and the newest "verify now" it answered."""

    last_run: datetime | None = None
    answered: int = 0
    pending: list[int] = field(default_factory=list)


def verification_due(engine: Engine, clock: VerifyClock, *, every: timedelta, now: datetime):
    """(due, request id or None): a request waits, or the schedule says so."""
    with Session(read_only(engine)) as session:
        if clock.last_run is None:
            started = session.exec(select(func.max(VerificationRun.started_at))).one()
            clock.last_run = as_utc(started) if started else None
            answered = session.exec(select(func.max(VerificationRun.request_id))).one()
            clock.answered = answered or 0
        waiting = session.exec(
            select(VerifyRequest.id)
            .where(col(VerifyRequest.id) > clock.answered)
            .order_by(col(VerifyRequest.id).desc())
            .limit(1)
        ).first()
    if waiting is not None:
        return True, waiting
    return clock.last_run is None or now - clock.last_run >= every, None


def tick(
    job: CheckpointJob,
    verify_job: VerifyJob,
    *,
    schedule: Schedule,
    index: SignedIndex,
    clock: VerifyClock,
    report: Callable[[str], None],
    warn: Callable[[str], None],
) -> None:
    """One round: a checkpoint if due, then a verification if due or asked for.

    A log that contradicts the last checkpoint, or holds an entry without a valid MAC, is
    not signed (loudly, every round); verification goes on, so the status page shows it."""
    try:
        checkpoint = checkpoint_now(job, schedule=schedule, index=index)
    except CheckpointError as exc:
        warn(f"checkpoint refused: {exc}")
        checkpoint = None
    if checkpoint is not None:
        report(f"checkpoint {checkpoint.id}: size {checkpoint.tree_size} ({checkpoint.file_name})")
    verify_if_due(verify_job, clock, every=schedule.verify_every, report=report)


def verify_if_due(
    verify_job: VerifyJob,
    clock: VerifyClock,
    *,
    every: timedelta,
    report: Callable[[str], None] = lambda _message: None,
) -> VerificationRun | None:
    """Verify the whole log when an auditor asked ("verify now") or the schedule says so."""
    now = utcnow()
    due, request_id = verification_due(verify_job.engine, clock, every=every, now=now)
    if not due:
        return None
    trigger = "request" if request_id is not None else "schedule"
    run, _report = verify_and_record(verify_job, trigger=trigger, request_id=request_id)
    clock.last_run, clock.answered = now, max(clock.answered, request_id or 0)
    verdict = "OK" if run.ok else f"FAILED with {run.problems} problems"
    report(f"verification ({trigger}): {verdict}, {run.tree_size} entries")
    return run


# Arbitrary constant key for pg_try_advisory_lock: "vigil" + "_sc" in ASCII.
LEAD_LOCK_KEY = 0x76696769_6C5F7363


class Lead:
    """Exactly one sidecar works per deployment: the one holding this lock (a PostgreSQL
    session advisory lock on a connection kept open, or an flock beside the SQLite file).
    The others stand by and take over when the holder's connection or process ends."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Connection | None = None
        self._file = None

    def hold(self) -> bool:
        """True while this process leads (taking the lead if it is free)."""
        if is_postgres(self.engine):
            return self._hold_postgres()
        if self._file is None:
            handle = open(f"{self.engine.url.database}.sidecar.lock", "a")  # noqa: SIM115
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                return False
            self._file = handle
        return True

    def _hold_postgres(self) -> bool:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1"))
                self._conn.commit()
                return True
            except DBAPIError:  # the connection died, and the lock with it
                self.release()
        conn = self.engine.connect()
        got = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": LEAD_LOCK_KEY})
        if got.scalar():
            conn.commit()
            self._conn = conn
            return True
        conn.close()
        return False

    def release(self) -> None:
        """Give the lead up (process exit does it, too)."""
        if self._conn is not None:
            # A pooled connection outlives close(): unlock first, or drop it from the pool.
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LEAD_LOCK_KEY})
                self._conn.commit()
            except DBAPIError:
                self._conn.invalidate()
            with contextlib.suppress(DBAPIError):
                self._conn.close()
            self._conn = None
        if self._file is not None:
            self._file.close()
            self._file = None


def run_sidecar(
    job: CheckpointJob,
    verify_job: VerifyJob,
    *,
    schedule: Schedule,
    every: float,
    report: Callable[[str], None],
    warn: Callable[[str], None],
    sleep: Callable[[float], None] | None = None,
) -> None:
    """Tick every `every` seconds, forever (Ctrl-C stops), while this sidecar leads.

    A database that is briefly unreachable skips a round."""
    index, clock = SignedIndex(keys=job.keys, origin=job.origin), VerifyClock()
    lead, told = Lead(job.engine), False
    try:
        while True:
            try:
                if lead.hold():
                    told = False
                    tick(
                        job,
                        verify_job,
                        schedule=schedule,
                        index=index,
                        clock=clock,
                        report=report,
                        warn=warn,
                    )
                elif not told:
                    report("another sidecar leads this deployment; standing by")
                    told = True
            except OperationalError as exc:
                warn(f"round skipped, database unavailable: {exc.orig or exc}")
            (sleep or time.sleep)(every)
    finally:
        lead.release()
