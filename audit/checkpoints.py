"""Signed checkpoints of the access log: build, sign, store, copy out, read back.

A checkpoint is a C2SP tlog-checkpoint note: origin, tree size, RFC 6962 root, then two
extension lines, the chain head (hash of the last entry) and the signing time.
"""

from __future__ import annotations

import base64
import hmac
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from audit.access_log import entry_mac, format_time, log_head
from audit.models import AccessEntry, AuditCheckpoint
from audit.signing import KnownKeys, Signer
from audit.tlog.canonical import GENESIS
from audit.tlog.merkle import EMPTY_ROOT
from audit.tlog.signed_note import (
    NoteError,
    make_checkpoint_body,
    parse_checkpoint_body,
    parse_note,
    sign_note,
    verify_note,
)
from audit.tlog.tree import RootAccumulator
from core.timeutil import as_utc, utcnow

CHAIN_HEAD = "vigil-chain-head "
SIGNED_AT = "vigil-time "
SUFFIX = ".checkpoint"


class CheckpointError(RuntimeError):
    """A checkpoint cannot be written: the log contradicts the last signed one."""


class CheckpointProblem(ValueError):
    """A checkpoint note that cannot be trusted; `code` names the problem for the verifier."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class TreeState:
    """Size, RFC 6962 root and chain head of the log (or of a prefix of it)."""

    size: int
    root: bytes
    chain_head: bytes


@dataclass(frozen=True)
class SignedCheckpoint:
    """A checkpoint whose signature verified with a trusted key."""

    size: int
    root: bytes
    chain_head: bytes | None
    signed_at: str | None
    key: str  # "name+keyid" of the key that signed
    text: str


@dataclass(frozen=True)
class NoteSource:
    """A checkpoint note and where it was read from (database row or file)."""

    where: str
    text: str
    kind: str  # "database", "directory" (the copies Vigil wrote) or "file" (given by hand)
    row: AuditCheckpoint | None = None  # the table row a "database" note came from


def checkpoint_dir(settings: Mapping[str, Any], instance: Path) -> Path:
    """VIGIL_CHECKPOINT_DIR, or <instance>/checkpoints."""
    return Path(settings.get("CHECKPOINT_DIR") or instance / "checkpoints")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def stream_hashes(session: Session, *, with_mac: bool = False) -> Iterator[tuple]:
    """(leaf hash, entry hash[, MAC, seq, format]) of every entry in sequence order."""
    columns = [AccessEntry.leaf_hash, AccessEntry.entry_hash]
    if with_mac:
        columns += [AccessEntry.entry_mac, AccessEntry.seq, AccessEntry.format]
    query = select(*columns).order_by(col(AccessEntry.seq))
    for row in session.execute(query, execution_options={"yield_per": 5000}):
        yield (bytes(row[0]), bytes(row[1]), *row[2:])


def _check_mac(key: bytes, entry_hash: bytes, mac, seq: int, fmt: int, keyed: bool) -> bool:
    """True when the entry is keyed; CheckpointError when it was written without the key.
    Format-1 entries (before MACs) pass without one only before the first keyed entry."""
    if mac is None and fmt == 1 and not keyed:
        return False
    if mac is None or not hmac.compare_digest(entry_mac(key, entry_hash), bytes(mac)):
        raise CheckpointError(
            f"entry {seq} has no valid MAC (written without the key?): nothing from it on is "
            "signed until this is resolved; run `audit verify`"
        )
    return True


def tree_states(
    session: Session,
    sizes: Iterable[int] = (),
    *,
    mac_key: bytes | None = None,
    signed: int = 0,
) -> tuple[TreeState, dict]:
    """The whole log's state, plus {size: TreeState} for each requested prefix size.

    With `mac_key`, every entry from `signed` on must carry a valid MAC (CheckpointError
    otherwise): a checkpoint never signs an entry someone wrote without the key."""
    wanted, acc, head, keyed = set(sizes), RootAccumulator(), GENESIS, False
    prefixes = {0: TreeState(0, EMPTY_ROOT, GENESIS)} if 0 in wanted else {}
    for leaf, entry_hash, *facts in stream_hashes(session, with_mac=mac_key is not None):
        if mac_key is not None:
            mac, seq, fmt = facts
            if acc.size >= signed:
                keyed = _check_mac(mac_key, entry_hash, mac, seq, fmt, keyed) or keyed
            else:
                keyed = keyed or mac is not None
        acc.add(leaf)
        head = entry_hash
        if acc.size in wanted:
            prefixes[acc.size] = TreeState(acc.size, acc.root(), head)
    return TreeState(acc.size, acc.root(), head), prefixes


def parse_time(value: str | None) -> datetime | None:
    """A note's `vigil-time` (or an entry time as hashed) as an aware UTC datetime."""
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def newest(checkpoints: Iterable[SignedCheckpoint]) -> SignedCheckpoint | None:
    """The checkpoint that covers the most entries (the latest signed among equals)."""
    return max(checkpoints, key=lambda cp: (cp.size, cp.signed_at or ""), default=None)


def column_problem(row: AuditCheckpoint, signed: SignedCheckpoint) -> CheckpointProblem | None:
    """A row whose columns say something else than its signed note (`bad_checkpoint`)."""
    said = (row.tree_size, bytes(row.root_hash or b""), bytes(row.chain_head or b""))
    if said != (signed.size, signed.root, signed.chain_head or b""):
        return CheckpointProblem(
            "bad_checkpoint",
            f"database checkpoint {row.id}: its columns disagree with its signed note "
            f"(size {row.tree_size} in the row, {signed.size} signed); only the note counts",
        )
    return None


class SignedIndex:
    """The signed checkpoints in the table, read from their notes (never from columns).

    Each refresh reads only rows added since the last one, so a long-running sidecar
    verifies every note once. Rows that do not verify are kept in `problems`, skipped, and
    cannot stop checkpointing."""

    def __init__(self, *, keys: KnownKeys, origin: str) -> None:
        self.keys, self.origin = keys, origin
        self.last_id: int | None = None
        self.best: SignedCheckpoint | None = None
        self.problems: list[CheckpointProblem] = []

    def refresh(self, session: Session) -> SignedCheckpoint | None:
        """Read new rows; return the checkpoint covering the most entries (or None)."""
        query = select(AuditCheckpoint).order_by(col(AuditCheckpoint.id))
        if self.last_id is not None:
            query = query.where(AuditCheckpoint.id > self.last_id)
        for row in session.exec(query):
            self.last_id = row.id
            try:
                signed = read_checkpoint(row.note, keys=self.keys, origin=self.origin)
            except CheckpointProblem as exc:
                self.problems.append(exc)
                continue
            if problem := column_problem(row, signed):
                self.problems.append(problem)
            self.best = newest([cp for cp in (self.best, signed) if cp is not None])
        return self.best


def latest_signed(
    session: Session, *, keys: KnownKeys, origin: str, look_back: int = 20
) -> SignedCheckpoint | None:
    """The largest checkpoint among the newest `look_back` rows whose note verifies (for
    pages: bounded work; the sidecar and the verifier read every row)."""
    rows = session.exec(
        select(AuditCheckpoint).order_by(col(AuditCheckpoint.id).desc()).limit(look_back)
    )
    good = []
    for row in rows:
        try:
            good.append(read_checkpoint(row.note, keys=keys, origin=origin))
        except CheckpointProblem:
            continue
    return newest(good)


def checkpoint_due(
    session: Session,
    *,
    latest: SignedCheckpoint | None,
    now: datetime,
    interval: timedelta,
    max_entries: int,
    heartbeat: timedelta,
) -> bool:
    """True when `max_entries` entries are unsigned, the oldest unsigned entry is half the
    interval old (so the verifier, which allows the whole interval, never sees it
    unanchored), or the heartbeat is due."""
    size = log_head(session)[0]
    covered = latest.size if latest is not None else 0
    if size - covered >= max_entries:
        return True
    if size > covered:
        oldest = session.exec(
            select(AccessEntry.occurred_at).where(AccessEntry.seq == covered)
        ).first()
        if oldest is None or now - as_utc(oldest) >= interval / 2:
            return True
    signed_at = parse_time(latest.signed_at) if latest is not None else None
    return signed_at is None or now - signed_at >= heartbeat


def build_checkpoint(
    session: Session,
    *,
    signer: Signer,
    origin: str,
    latest: SignedCheckpoint | None,
    mac_key: bytes | None,
    now: datetime | None = None,
) -> AuditCheckpoint:
    """Sign the log's current state (not yet added); refuse if it contradicts `latest`, the
    largest checkpoint whose signature verified."""
    now = now or utcnow()
    covered = latest.size if latest else 0
    state, prefixes = tree_states(
        session, [covered] if latest else [], mac_key=mac_key, signed=covered
    )
    if latest is not None:
        before = prefixes.get(latest.size)
        if before is None:
            raise CheckpointError(
                f"the log has {state.size} entries but a checkpoint signed at "
                f"{latest.signed_at} covers {latest.size}: it was truncated; run `audit verify`"
            )
        if (before.root, before.chain_head) != (latest.root, latest.chain_head or b""):
            raise CheckpointError(
                f"the first {latest.size} entries no longer match the checkpoint signed at "
                f"{latest.signed_at}: history was rewritten; run `audit verify`"
            )
    body = make_checkpoint_body(
        origin,
        state.size,
        state.root,
        [CHAIN_HEAD + _b64(state.chain_head), SIGNED_AT + format_time(now)],
    )
    stamp = format_time(now).replace("-", "").replace(":", "").replace(".", "")
    return AuditCheckpoint(
        created_at=now,
        origin=origin,
        tree_size=state.size,
        root_hash=state.root,
        chain_head=state.chain_head,
        key_id=signer.key_id,
        note=sign_note(body, signer.name, signer.private_key),
        file_name=f"{state.size:012d}-{stamp}-{signer.key_id}{SUFFIX}",
    )


def write_checkpoint_file(directory: Path, checkpoint: AuditCheckpoint) -> Path:
    """Copy a committed checkpoint out of the database; never overwrites a file."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / checkpoint.file_name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(checkpoint.note)
        handle.flush()
        os.fsync(handle.fileno())
    return path


def note_sources(
    session: Session, directory: Path | None, files: Iterable[Path] = ()
) -> list[NoteSource]:
    """Every checkpoint note to check: database rows, the checkpoint directory, given files."""
    rows = session.exec(select(AuditCheckpoint).order_by(col(AuditCheckpoint.id)))
    sources = [
        NoteSource(f"database checkpoint {row.id}", row.note, "database", row) for row in rows
    ]
    paths = sorted(directory.glob(f"*{SUFFIX}")) if directory and directory.is_dir() else []
    for kind, group in (("directory", paths), ("file", files)):
        for path in group:
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                text = f"unreadable: {exc}"
            sources.append(NoteSource(str(path), text, kind))
    return sources


def read_checkpoint(text: str, *, keys: KnownKeys, origin: str) -> SignedCheckpoint:
    """Verify a checkpoint note's signature and parse it; raise CheckpointProblem if unfit."""
    try:
        _body, signatures = parse_note(text)
    except NoteError as exc:
        raise CheckpointProblem("bad_checkpoint", f"not a signed note: {exc}") from exc
    trusted = [sig for sig in signatures if (sig.name, sig.key_id) in keys]
    if not trusted:
        ids = ", ".join(f"{sig.name}+{sig.key_id.hex()}" for sig in signatures)
        raise CheckpointProblem("unknown_key", f"signed only by keys not trusted here: {ids}")
    try:
        body = verify_note(text, keys)
        checkpoint = parse_checkpoint_body(body)
    except NoteError as exc:
        code = "bad_signature" if "signature" in str(exc) else "bad_checkpoint"
        raise CheckpointProblem(code, str(exc)) from exc
    if checkpoint.origin != origin:
        raise CheckpointProblem(
            "origin_mismatch", f"origin {checkpoint.origin!r} is not this log's {origin!r}"
        )
    extras = {line.split(" ", 1)[0] + " ": line.split(" ", 1)[-1] for line in checkpoint.extensions}
    head = extras.get(CHAIN_HEAD)
    try:
        chain_head = base64.b64decode(head, validate=True) if head else None
    except ValueError as exc:
        raise CheckpointProblem("bad_checkpoint", "malformed chain head line") from exc
    return SignedCheckpoint(
        size=checkpoint.size,
        root=checkpoint.root,
        chain_head=chain_head,
        signed_at=extras.get(SIGNED_AT),
        key=f"{trusted[0].name}+{trusted[0].key_id.hex()}",
        text=text,
    )
