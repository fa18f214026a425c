"""Recompute the access log from its fields and hold it against the signed checkpoints.

Every problem is reported, not just the first. Per-row checks pinpoint the damaged
entry; each entry's MAC (keyed, the key is not in the database) stops a database writer
from forging or rehashing entries even after the last checkpoint; recomputed roots and
chain heads compared with signed checkpoints catch what per-row checks cannot (a
truncated tail); the anchor age bounds the window in which a tail could be cut unseen.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from access_control.journal import AdminEvent, EventType
from audit.access_log import entry_fields, entry_mac, note_commitment
from audit.checkpoints import (
    CheckpointProblem,
    NoteSource,
    SignedCheckpoint,
    column_problem,
    newest,
    note_sources,
    parse_time,
    read_checkpoint,
)
from audit.models import AccessEntry, AccessNote, VerificationRun
from audit.signing import KnownKeys
from audit.tlog.canonical import GENESIS, HASH_SIZE, CanonicalJSONError, chain_hash, leaf_hash
from audit.tlog.merkle import EMPTY_ROOT
from audit.tlog.tree import RootAccumulator
from core.db import read_only, session_scope
from core.timeutil import as_utc, utcnow

PROGRESS_EVERY = 1000


@dataclass(frozen=True)
class Problem:
    """One finding; `code` is stable (tests and tooling match on it)."""

    code: str
    message: str
    seq: int | None = None


@dataclass
class Report:
    """What the verifier found."""

    size: int = 0
    root: bytes = EMPTY_ROOT
    chain_head: bytes = GENESIS
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    redacted: list[int] = field(default_factory=list)
    checkpoints: int = 0
    anchored: int = 0  # entries the largest signed checkpoint covers
    anchor_age: timedelta | None = None  # since the newest signed checkpoint; None: none

    @property
    def ok(self) -> bool:
        """Clean: no problem at all (redacted notes and warnings are not problems)."""
        return not self.problems

    def codes(self) -> Counter:
        """How many problems of each code."""
        return Counter(problem.code for problem in self.problems)

    def summary(self) -> str:
        """JSON of the problem counts, for the stored verification run."""
        return json.dumps(dict(sorted(self.codes().items())))


def _hash(value) -> bytes:
    """A stored hash as 32 bytes; a malformed one becomes a value no real hash equals."""
    raw = bytes(value) if value is not None else b""
    return raw if len(raw) == HASH_SIZE else hashlib.sha256(b"malformed:" + raw).digest()


def _rows(session: Session):
    entry, note = AccessEntry.__table__, AccessNote.__table__
    query = (
        select(entry, note.c.salt, note.c.text.label("note_text"))
        .select_from(entry.outerjoin(note, note.c.entry_seq == entry.c.seq))
        .order_by(entry.c.seq)
    )
    return session.execute(query, execution_options={"yield_per": 5000})


def _original_seq(session: Session, row, fields: dict, stored_leaf: bytes) -> int | None:
    """If the row's leaf verifies at another position (found via its neighbours' links)."""
    table = AccessEntry.__table__
    candidates = []
    before = session.execute(select(table.c.seq).where(table.c.entry_hash == row.prev_hash))
    candidates += [seq + 1 for (seq,) in before]
    after = session.execute(select(table.c.seq).where(table.c.prev_hash == row.entry_hash))
    candidates += [seq - 1 for (seq,) in after]
    for seq in candidates:
        if seq != row.seq and leaf_hash({**fields, "seq": seq}) == stored_leaf:
            return seq
    return None


class _Scan:
    """State of one pass over the rows."""

    def __init__(
        self,
        session: Session,
        report: Report,
        sizes: set[int],
        *,
        mac_key: bytes,
        erased: set[int],
        covered: int,
    ) -> None:
        self.session, self.report, self.sizes = session, report, sizes
        self.mac_key, self.erased, self.covered = mac_key, erased, covered
        self.first_unsigned_at: datetime | None = None  # the oldest unsigned entry's time
        self.expected, self.prev_stored, self.prev_moved = 0, GENESIS, False
        self.acc, self.chain = RootAccumulator(), GENESIS
        self.prefixes: dict[int, tuple[bytes, bytes]] = {0: (EMPTY_ROOT, GENESIS)}

    def problem(self, code: str, message: str, seq: int | None) -> None:
        self.report.problems.append(Problem(code, message, seq))

    def row(self, row) -> None:
        seq = row.seq
        stored_leaf, prev, entry_hash = (
            _hash(row.leaf_hash),
            _hash(row.prev_hash),
            _hash(row.entry_hash),
        )
        gap = seq != self.expected
        if gap:
            missing = (
                f"entry {self.expected} is missing"
                if seq - 1 == self.expected
                else f"entries {self.expected}..{seq - 1} are missing"
            )
            self.problem("sequence_gap", f"{missing} (deleted)", self.expected)
        try:
            fields = entry_fields(row)
            leaf = leaf_hash(fields)
        except (CanonicalJSONError, AttributeError, TypeError, ValueError) as exc:
            fields, leaf = None, None
            self.problem("edited", f"entry {seq}: fields cannot be encoded ({exc})", seq)
        moved = False
        if leaf is not None and leaf != stored_leaf:
            original = _original_seq(self.session, row, fields, stored_leaf)
            moved = original is not None
            if moved:
                self.problem("reordered", f"entry {seq} was written as entry {original}", seq)
            else:
                self.problem("edited", f"entry {seq}: fields do not match its leaf hash", seq)
        if chain_hash(prev, stored_leaf) != entry_hash:
            self.problem("hash_mismatch", f"entry {seq}: entry hash is not H(prev || leaf)", seq)
        if prev != self.prev_stored and not (gap or moved or self.prev_moved):
            self.problem("chain_broken", f"entry {seq} does not link to the entry before it", seq)
        self._mac(row, seq, entry_hash)
        if seq >= self.covered and self.first_unsigned_at is None:
            self.first_unsigned_at = as_utc(row.occurred_at)
        self._note(row)
        leaf = leaf or stored_leaf
        self.acc.add(leaf)
        self.chain = chain_hash(self.chain, leaf)
        if self.acc.size in self.sizes:
            self.prefixes[self.acc.size] = (self.acc.root(), self.chain)
        self.expected, self.prev_stored, self.prev_moved = seq + 1, entry_hash, moved

    def _mac(self, row, seq: int, entry_hash: bytes) -> None:
        """Only the key holder can write a valid MAC; format-1 entries (before MACs) have
        none and are trusted only inside a signed checkpoint."""
        if row.entry_mac is None:
            if row.format != 1 or seq >= self.covered:
                self.problem(
                    "bad_mac", f"entry {seq} has no MAC and no signed checkpoint covers it", seq
                )
        elif not hmac.compare_digest(entry_mac(self.mac_key, entry_hash), bytes(row.entry_mac)):
            message = f"entry {seq}: MAC does not verify (written or rehashed without the key)"
            self.problem("bad_mac", message, seq)

    def _note(self, row) -> None:
        if row.note_commitment and row.salt is None:
            if row.seq not in self.erased:
                message = f"entry {row.seq}: note missing, and no erasure was recorded for it"
                self.problem("note_missing", message, row.seq)
                return
            self.report.redacted.append(row.seq)
        elif row.salt is not None and (
            not row.note_commitment
            or note_commitment(bytes(row.salt), row.note_text) != row.note_commitment
        ):
            message = f"entry {row.seq}: note does not match its commitment"
            self.problem("note_mismatch", message, row.seq)


def _check_notes(
    sources: Iterable[NoteSource], keys: KnownKeys, origin: str, report: Report
) -> list[SignedCheckpoint]:
    """Verify each distinct note and hold every row's columns and every copy against them;
    record what is wrong; return the trusted checkpoints."""
    sources = list(sources)
    good: dict[str, SignedCheckpoint] = {}
    seen: set[str] = set()
    in_db = {source.text for source in sources if source.kind == "database"}
    in_dir = {source.text for source in sources if source.kind == "directory"}

    def add(code: str, message: str) -> None:
        report.problems.append(Problem(code, message))

    for source in sources:
        if source.row is not None and source.text not in in_dir:
            add("checkpoint_file_missing", f"{source.where} has no copy in the directory")
        # Vigil copies every checkpoint out after storing it, so a copy without its row
        # means rows were removed from the (append-only) checkpoints table.
        if source.kind == "directory" and source.text not in in_db:
            add("checkpoint_missing", f"{source.where} is not in the checkpoints table")
        if source.text not in seen:
            seen.add(source.text)
            try:
                good[source.text] = read_checkpoint(source.text, keys=keys, origin=origin)
            except CheckpointProblem as exc:
                add(exc.code, f"{source.where}: {exc}")
        signed = good.get(source.text)
        problem = column_problem(source.row, signed) if source.row and signed else None
        if problem is not None:
            add(problem.code, str(problem))
    report.checkpoints = len(good)
    return list(good.values())


def _check_history(good: list[SignedCheckpoint], report: Report) -> None:
    """Checkpoints among themselves: no two roots for one size, sizes never shrink."""
    by_size: dict[int, SignedCheckpoint] = {}
    for cp in good:
        other = by_size.setdefault(cp.size, cp)
        if other.root != cp.root:
            report.problems.append(
                Problem("fork", f"two signed checkpoints of size {cp.size} have different roots")
            )
    timed = sorted((cp for cp in good if cp.signed_at), key=lambda cp: cp.signed_at)
    largest = None
    for cp in timed:
        if largest is not None and cp.size < largest.size:
            report.problems.append(
                Problem(
                    "checkpoint_shrinks",
                    f"checkpoint of {cp.signed_at} has size {cp.size}, smaller than "
                    f"{largest.size} signed at {largest.signed_at}",
                )
            )
        if largest is None or cp.size >= largest.size:
            largest = cp


def _check_against_log(good: list[SignedCheckpoint], prefixes: dict, report: Report) -> None:
    biggest = max(good, key=lambda cp: cp.size, default=None)
    if biggest is not None and biggest.size > report.size:
        report.problems.append(
            Problem(
                "truncated",
                f"the log has {report.size} entries but a checkpoint signed {biggest.size}",
            )
        )
    for cp in sorted(good, key=lambda cp: cp.size):
        if cp.size not in prefixes:
            continue
        root, head = prefixes[cp.size]
        where = f"the first {cp.size} entries"
        if root != cp.root:
            report.problems.append(
                Problem("root_mismatch", f"{where} do not match the root signed at {cp.signed_at}")
            )
        if cp.chain_head is not None and head != cp.chain_head:
            report.problems.append(
                Problem("chain_head_mismatch", f"{where} end in another chain head than signed")
            )


def erased_notes(session: Session) -> set[int]:
    """Entries whose note was lawfully erased: an `access_log.note_erased` event names them."""
    query = select(AdminEvent.target_id).where(
        AdminEvent.event_type == EventType.ACCESS_LOG_NOTE_ERASED,
        AdminEvent.target_type == "access_entry",
    )
    return {int(target) for (target,) in session.execute(query) if target.isdigit()}


def _check_anchor(scan: _Scan, good: list[SignedCheckpoint], now: datetime, interval) -> None:
    report, latest = scan.report, newest(good)
    report.anchored = latest.size if latest is not None else 0
    times = [t for t in (parse_time(cp.signed_at) for cp in good) if t is not None]
    report.anchor_age = now - max(times) if times else None
    unsigned = report.size - report.anchored
    if unsigned > 0 and scan.first_unsigned_at is not None:
        age = now - scan.first_unsigned_at
        if age > interval:
            report.problems.append(
                Problem(
                    "unanchored",
                    f"{unsigned} entries, the oldest {int(age.total_seconds())}s old, are "
                    f"covered by no signed checkpoint (allowed: {int(interval.total_seconds())}s)",
                    report.anchored,
                )
            )


def verify_log(
    session: Session,
    *,
    sources: Iterable[NoteSource],
    keys: KnownKeys,
    origin: str,
    mac_key: bytes,
    interval: timedelta,
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Check every entry, its MAC and note, and every checkpoint; return all findings.

    `interval` is how old an entry may be before a signed checkpoint must cover it."""
    report, now = Report(), now or utcnow()
    good = _check_notes(sources, keys, origin, report)  # read before the rows: see README
    _check_history(good, report)
    covered = max((cp.size for cp in good), default=0)
    scan = _Scan(
        session,
        report,
        {cp.size for cp in good},
        mac_key=mac_key,
        erased=erased_notes(session),
        covered=covered,
    )
    for count, row in enumerate(_rows(session), start=1):
        scan.row(row)
        if progress is not None and count % PROGRESS_EVERY == 0:
            progress(PROGRESS_EVERY)
    if progress is not None:
        progress(scan.acc.size % PROGRESS_EVERY)
    report.size, report.root, report.chain_head = scan.acc.size, scan.acc.root(), scan.chain
    _check_against_log(good, scan.prefixes, report)
    _check_anchor(scan, good, now, interval)
    return report


@dataclass(frozen=True)
class VerifyJob:
    """What a verification needs: the log, trusted keys, the MAC key, the copies."""

    engine: Engine
    keys: KnownKeys
    origin: str
    mac_key: bytes
    directory: Path | None
    interval: timedelta


def verify_and_record(
    job: VerifyJob,
    *,
    trigger: str,
    request_id: int | None = None,
    files: Iterable[Path] = (),
    progress: Callable[[int], None] | None = None,
) -> tuple[VerificationRun, Report]:
    """Verify the whole log and store the outcome for the status page (when the database
    takes writes: a replica or a copy does not)."""
    started = utcnow()
    with Session(read_only(job.engine)) as session:
        sources = note_sources(session, job.directory, files)
        report = verify_log(
            session,
            sources=sources,
            keys=job.keys,
            origin=job.origin,
            mac_key=job.mac_key,
            interval=job.interval,
            now=started,
            progress=progress,
        )
    age = report.anchor_age
    run = VerificationRun(
        started_at=started,
        finished_at=utcnow(),
        tree_size=report.size,
        ok=report.ok,
        problems=len(report.problems),
        redacted=len(report.redacted),
        checkpoints=report.checkpoints,
        summary=report.summary(),
        trigger=trigger,
        request_id=request_id,
        anchor_age_seconds=None if age is None else int(age.total_seconds()),
    )
    try:
        with session_scope(job.engine) as session:
            session.add(run)
    except SQLAlchemyError as exc:
        report.warnings.append(f"the result was not stored for the status page ({exc})")
    return run, report
