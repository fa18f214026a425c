"""The one writer of the content access log: gap-free, hash-chained appends under a lock.

The leaf of an entry is SHA-256(0x00 || canonical JSON of `entry_fields(entry)`); the
entry hash is SHA-256(previous entry hash || leaf); the entry MAC is
HMAC-SHA256(AUDIT_MAC_KEY, entry hash), with a key the database does not hold. Writer and
verifier share `entry_fields` and `entry_mac`, so there is exactly one definition of what
an entry commits to.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from flask import g, has_request_context, request
from sqlalchemy import func, insert, text
from sqlmodel import Session, col, select

from access_control.journal import SYSTEM_LABEL, EventType, record_event
from audit.models import AccessEntry, AccessNote
from audit.reasons import AccessAction, Decision, ReasonCode
from audit.tlog.canonical import GENESIS, chain_hash, leaf_hash
from core.keys import key_ring
from core.timeutil import utcnow

ENTRY_FORMAT = 2
# The fields a leaf commits to, in the order auditors see them. Hashes are not fields.
LEAF_FIELDS_V1 = (
    "format",
    "seq",
    "occurred_at",
    "actor_id",
    "actor_label",
    "action",
    "decision",
    "reason_code",
    "case_id",
    "conversation_id",
    "evidence_version",
    "request_id",
    "client_address",
    "note_commitment",
)
# Format 2 adds the queue, the message number (as the case page shows it) and the
# break-glass grant a look relied on.
LEAF_FIELDS = (*LEAF_FIELDS_V1, "queue", "message", "grant_id")
FIELDS_BY_FORMAT = {1: LEAF_FIELDS_V1, 2: LEAF_FIELDS}
NOTE_MAX = 2000
# Arbitrary constant key for pg_advisory_xact_lock: "vigil" + "log" in ASCII.
APPEND_LOCK_KEY = 0x76696769_6C6F67


class AccessLogError(RuntimeError):
    """An entry could not be written; callers must not serve content."""


_ENTRY = AccessEntry.__table__
_INSERT_ENTRY = insert(_ENTRY)
_INSERT_NOTE = insert(AccessNote.__table__)
_HEAD = select(_ENTRY.c.seq, _ENTRY.c.entry_hash).order_by(_ENTRY.c.seq.desc()).limit(1)


def format_time(value: datetime) -> str:
    """UTC time as it is hashed: ISO 8601 with microseconds and a Z (naive means UTC)."""
    if value.tzinfo is not None and value.utcoffset():
        value = value.astimezone(UTC)
    # Formatted by hand: strftime is the verifier's single most expensive call per entry.
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:"
        f"{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}Z"
    )


def entry_fields(entry: Any) -> dict:
    """The canonical field dict of an entry (ORM object or row), shared by writer and verifier.

    Each format commits to its own field list; an unknown format raises ValueError."""
    fields = {
        "format": entry.format,
        "seq": entry.seq,
        "occurred_at": format_time(entry.occurred_at),
        "actor_id": entry.actor_id,
        "actor_label": entry.actor_label,
        "action": entry.action,
        "decision": entry.decision,
        "reason_code": entry.reason_code,
        "case_id": entry.case_id,
        "conversation_id": entry.conversation_id,
        "evidence_version": entry.evidence_version,
        "request_id": entry.request_id,
        "client_address": entry.client_address,
        "note_commitment": entry.note_commitment,
    }
    if entry.format == 2:
        fields.update(queue=entry.queue, message=entry.message, grant_id=entry.grant_id)
    elif entry.format != 1:
        raise ValueError(f"unknown entry format {entry.format!r}")
    return fields


def entry_mac(key: bytes, entry_hash: bytes) -> bytes:
    """HMAC-SHA256 of the entry hash (which commits to the fields, the seq and the chain)."""
    return hmac.digest(key, entry_hash, "sha256")


def note_commitment(salt: bytes, note: str) -> str:
    """Hex SHA-256(salt || UTF-8 note): binds the note without revealing guessable text."""
    return hashlib.sha256(salt + note.encode("utf-8")).hexdigest()


def _lock(session: Session) -> None:
    # SQLite: every transaction already began with BEGIN IMMEDIATE (core.db), which
    # serialises writers. PostgreSQL: a transaction-scoped advisory lock does it.
    if session.get_bind().dialect.name == "postgresql":
        session.exec(text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=APPEND_LOCK_KEY))


def log_head(session: Session) -> tuple[int, bytes]:
    """(next sequence number, hash of the last entry) as the database holds them now."""
    row = session.execute(_HEAD).first()
    return (0, GENESIS) if row is None else (row[0] + 1, bytes(row[1]))


def _id(value: str | int | None) -> str:
    return "" if value is None else str(value)[:64]


def _request_facts() -> tuple[str, str]:
    if not has_request_context():
        return "", ""
    return getattr(g, "request_id", ""), (request.remote_addr or "")[:64]


def record_access(
    session: Session,
    *,
    actor: Any | None,
    action: AccessAction | str,
    decision: Decision | str,
    reason_code: ReasonCode | str | None,
    case_id: str | int | None,
    conversation_id: str | int | None,
    evidence_version: int | None,
    note: str | None = None,
    queue: str = "",
    message: int | None = None,
    grant_id: str | int | None = None,
    mac_key: bytes | None = None,
) -> SimpleNamespace:
    """Append one entry under the append lock (the caller commits); returns its columns.

    `message` is the message number as the case page shows it (1-based); `mac_key`
    defaults to the running app's AUDIT_MAC_KEY."""
    action, decision = AccessAction(action).value, Decision(decision).value
    reason = ReasonCode(reason_code).value if reason_code else ""
    if decision == Decision.ALLOWED and not reason:
        raise ValueError("an allowed access needs a reason code")
    if note is not None and len(note) > NOTE_MAX:
        raise ValueError(f"a note is at most {NOTE_MAX} characters")
    if message is not None and not 1 <= int(message) <= 2**31 - 1:
        raise ValueError("a message number starts at 1")
    key = mac_key if mac_key is not None else key_ring().entry_mac
    request_id, client = _request_facts()
    salt = secrets.token_bytes(32) if note else b""
    # Everything that does not depend on the head is prepared before the lock: on
    # PostgreSQL the lock is held until commit, so the critical section stays short.
    # A plain namespace, not an ORM object: model validation would cost more than the hash.
    entry = SimpleNamespace(
        format=ENTRY_FORMAT,
        actor_id=getattr(actor, "id", None),
        actor_label=(actor.label if actor is not None else SYSTEM_LABEL)[:400],
        action=action,
        decision=decision,
        reason_code=reason,
        case_id=_id(case_id),
        conversation_id=_id(conversation_id),
        evidence_version=None if evidence_version is None else int(evidence_version),
        request_id=request_id,
        client_address=client,
        note_commitment=note_commitment(salt, note) if note else "",
        queue=(queue or "")[:32],
        message=None if message is None else int(message),
        grant_id=_id(grant_id),
    )
    _lock(session)
    entry.seq, entry.prev_hash = log_head(session)
    entry.occurred_at = utcnow()  # taken under the lock, so times follow the sequence
    entry.leaf_hash = leaf_hash(entry_fields(entry))
    entry.entry_hash = chain_hash(entry.prev_hash, entry.leaf_hash)
    entry.entry_mac = entry_mac(key, entry.entry_hash)
    # A Core insert, not the unit of work: it is the one statement inside the lock.
    session.execute(_INSERT_ENTRY, vars(entry))
    if note:
        session.execute(_INSERT_NOTE, {"entry_seq": entry.seq, "salt": salt, "text": note})
    return entry


def erase_note(session: Session, *, actor: Any | None, seq: int, reason: str) -> bool:
    """Delete an entry's note and salt (GDPR erasure); the chain still verifies."""
    note = session.get(AccessNote, seq)
    if note is None:
        return False
    session.delete(note)
    record_event(
        session,
        event_type=EventType.ACCESS_LOG_NOTE_ERASED,
        actor=actor,
        target_type="access_entry",
        target_id=seq,
        target_label=f"access log entry {seq}",
        reason=reason,
    )
    session.flush()
    return True


def log_size(session: Session) -> int:
    """How many entries the log holds."""
    return session.exec(select(func.count()).select_from(AccessEntry)).one()


def looks_statement(case_id: str | int):
    """Who was let see a case and under which reason: the distinct (reason code, actor id)
    of its ALLOWED entries (the viewer cap and the access summary read it)."""
    return (
        select(AccessEntry.reason_code.label("reason"), AccessEntry.actor_id.label("actor"))
        .distinct()
        .where(
            AccessEntry.case_id == str(case_id),
            AccessEntry.decision == Decision.ALLOWED,
            col(AccessEntry.actor_id).is_not(None),
        )
    )


def case_looks(session: Session, case_id: str | int) -> set[tuple[str, int]]:
    """A case's (reason code, actor id) looks, in one query (see looks_statement)."""
    return {(reason, actor) for reason, actor in session.exec(looks_statement(case_id))}


def count_people(looks: Iterable[tuple[str, int]]) -> dict[str, int]:
    """{reason: distinct people} of (reason, actor) looks: ten opens by one person count once."""
    people: dict[str, set[int]] = {}
    for reason, actor in looks:
        people.setdefault(reason, set()).add(actor)
    return {reason: len(actors) for reason, actors in people.items()}


def access_summary(session: Session, case_id: str | int) -> dict[str, int]:
    """How many staff members looked at a case, by reason code, without names (for the
    reporter): one person opening the page ten times counts once."""
    return count_people(case_looks(session, case_id))


def access_summaries(session: Session, case_ids: Iterable[str | int]) -> dict[str, dict[str, int]]:
    """access_summary of several cases in one query: {case id: {reason: people}}."""
    wanted = sorted({str(case_id) for case_id in case_ids})
    if not wanted:
        return {}
    rows = session.exec(
        select(AccessEntry.case_id, AccessEntry.reason_code, AccessEntry.actor_id)
        .distinct()
        .where(col(AccessEntry.case_id).in_(wanted), AccessEntry.decision == Decision.ALLOWED)
    )
    looks: dict[str, set[tuple[str, int]]] = {}
    for case_id, reason, actor in rows:
        if actor is not None:
            looks.setdefault(case_id, set()).add((reason, actor))
    return {case_id: count_people(pairs) for case_id, pairs in looks.items()}
