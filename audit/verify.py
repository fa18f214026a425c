"""Recompute the access log from its fields and hold it against the signed checkpoints.

Every problem is reported, not just the first. Per-row checks pinpoint the damaged
entry; recomputed roots and chain heads compared with signed checkpoints catch what
per-row checks cannot (a truncated tail, a chain rewritten with fresh hashes).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlmodel import Session

from audit.access_log import entry_fields, note_commitment
from audit.checkpoints import CheckpointProblem, NoteSource, SignedCheckpoint, read_checkpoint
from audit.models import AccessEntry, AccessNote
from audit.signing import KnownKeys
from audit.tlog.canonical import GENESIS, HASH_SIZE, CanonicalJSONError, chain_hash, leaf_hash
from audit.tlog.merkle import EMPTY_ROOT
from audit.tlog.tree import RootAccumulator

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

    def __init__(self, session: Session, report: Report, sizes: set[int]) -> None:
        self.session, self.report, self.sizes = session, report, sizes
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
        self._note(row)
        leaf = leaf or stored_leaf
        self.acc.add(leaf)
        self.chain = chain_hash(self.chain, leaf)
        if self.acc.size in self.sizes:
            self.prefixes[self.acc.size] = (self.acc.root(), self.chain)
        self.expected, self.prev_stored, self.prev_moved = seq + 1, entry_hash, moved

    def _note(self, row) -> None:
        if row.note_commitment and row.salt is None:
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
    """Verify each distinct note; record bad ones; return the trusted checkpoints."""
    sources = list(sources)
    good, seen = [], set()
    in_db = {source.text for source in sources if source.kind == "database"}
    for source in sources:
        if source.text in seen:
            continue
        seen.add(source.text)
        try:
            good.append(read_checkpoint(source.text, keys=keys, origin=origin))
        except CheckpointProblem as exc:
            report.problems.append(Problem(exc.code, f"{source.where}: {exc}"))
            continue
        # Vigil copies every checkpoint out after storing it, so a copy without its row
        # means rows were removed from the (append-only) checkpoints table.
        if source.kind == "directory" and source.text not in in_db:
            report.problems.append(
                Problem("checkpoint_missing", f"{source.where} is not in the checkpoints table")
            )
    report.checkpoints = len(good)
    return good


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


def verify_log(
    session: Session,
    *,
    sources: Iterable[NoteSource],
    keys: KnownKeys,
    origin: str,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Check every entry, every note and every checkpoint; return all findings."""
    report = Report()
    good = _check_notes(sources, keys, origin, report)  # read before the rows: see README
    _check_history(good, report)
    scan = _Scan(session, report, {cp.size for cp in good})
    for count, row in enumerate(_rows(session), start=1):
        scan.row(row)
        if progress is not None and count % PROGRESS_EVERY == 0:
            progress(PROGRESS_EVERY)
    if progress is not None:
        progress(scan.acc.size % PROGRESS_EVERY)
    report.size, report.root, report.chain_head = scan.acc.size, scan.acc.root(), scan.chain
    _check_against_log(good, scan.prefixes, report)
    return report
