"""Signed checkpoints of the access log: build, sign, store, copy out, read back.

A checkpoint is a C2SP tlog-checkpoint note: origin, tree size, RFC 6962 root, then two
extension lines, the chain head (hash of the last entry) and the signing time.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from audit.access_log import format_time, log_head
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


def checkpoint_dir(settings: Mapping[str, Any], instance: Path) -> Path:
    """VIGIL_CHECKPOINT_DIR, or <instance>/checkpoints."""
    return Path(settings.get("CHECKPOINT_DIR") or instance / "checkpoints")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def stream_hashes(session: Session) -> Iterator[tuple[bytes, bytes]]:
    """(leaf hash, entry hash) of every entry in sequence order, streamed from the database."""
    query = select(AccessEntry.leaf_hash, AccessEntry.entry_hash).order_by(col(AccessEntry.seq))
    for leaf, entry in session.execute(query, execution_options={"yield_per": 5000}):
        yield bytes(leaf), bytes(entry)


def tree_states(session: Session, sizes: Iterable[int] = ()) -> tuple[TreeState, dict]:
    """The whole log's state, plus {size: TreeState} for each requested prefix size."""
    wanted, acc, head = set(sizes), RootAccumulator(), GENESIS
    prefixes = {0: TreeState(0, EMPTY_ROOT, GENESIS)} if 0 in wanted else {}
    for leaf, entry_hash in stream_hashes(session):
        acc.add(leaf)
        head = entry_hash
        if acc.size in wanted:
            prefixes[acc.size] = TreeState(acc.size, acc.root(), head)
    return TreeState(acc.size, acc.root(), head), prefixes


def latest_checkpoint(session: Session) -> AuditCheckpoint | None:
    """The most recently stored checkpoint."""
    query = select(AuditCheckpoint).order_by(col(AuditCheckpoint.id).desc()).limit(1)
    return session.exec(query).first()


def checkpoint_due(session: Session, *, heartbeat: timedelta, now: datetime) -> bool:
    """True when the log changed since the last checkpoint, or the heartbeat is due."""
    latest = latest_checkpoint(session)
    if latest is None or log_head(session)[0] != latest.tree_size:
        return True
    return now - as_utc(latest.created_at) >= heartbeat


def build_checkpoint(
    session: Session, *, signer: Signer, origin: str, now: datetime | None = None
) -> AuditCheckpoint:
    """Sign the log's current state (not yet added); refuse if it contradicts the last one."""
    now = now or utcnow()
    latest = latest_checkpoint(session)
    state, prefixes = tree_states(session, [latest.tree_size] if latest else [])
    if latest is not None:
        before = prefixes.get(latest.tree_size)
        if before is None:
            raise CheckpointError(
                f"the log has {state.size} entries but checkpoint {latest.id} signed "
                f"{latest.tree_size}: it was truncated; run `audit verify`"
            )
        if (before.root, before.chain_head) != (bytes(latest.root_hash), bytes(latest.chain_head)):
            raise CheckpointError(
                f"the first {latest.tree_size} entries no longer match checkpoint "
                f"{latest.id}: history was rewritten; run `audit verify`"
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
    sources = [NoteSource(f"database checkpoint {row.id}", row.note, "database") for row in rows]
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
