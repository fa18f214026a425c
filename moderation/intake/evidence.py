"""Evidence: freeze the reported conversation as canonical bytes and keep it only sealed.

A snapshot is canonical JSON (sorted keys, no spaces, UTF-8) of the conversation's metadata
and every message at the time of the report. Its SHA-256 is the content hash; a report whose
snapshot hashes the same as the case's latest version reuses that version, anything new
(more messages, edited text) adds the next version. Plaintext never reaches the database:
blobs are sealed under the case's data key (moderation.sealing), the data key is stored
only wrapped by the master key, which lives in configuration, never in the database.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from core.keys import KeyRing
from core.timeutil import as_utc, utcnow
from moderation.intake.models import Case, CaseKey, EvidenceVersion
from moderation.intake.sealing import (
    MasterKey,
    SealError,
    case_context,
    content_hash,
    evidence_aad,
    keyring,
    new_data_key,
    open_sealed,
    rewrap,
    seal,
    unwrap,
    wrap,
)
from privacy.models import Conversation, Message

SNAPSHOT_FORMAT = "vigil.snapshot/1"


@dataclass(frozen=True)
class EvidenceKeys:
    """The master key new data keys are wrapped under, and every key that may unwrap."""

    current: MasterKey
    ring: Mapping[str, MasterKey]


def evidence_keys(ring: KeyRing) -> EvidenceKeys:
    """Wrapping keys from the key ring's evidence masters (current first, then retired)."""
    current, *old = (MasterKey.from_key(master) for master in ring.evidence)
    return EvidenceKeys(current=current, ring=keyring(current, *old))


def canonical_bytes(value: Any) -> bytes:
    """Canonical JSON: the same snapshot always gives the same bytes and hash."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _timestamp(value: datetime) -> str:
    return as_utc(value).isoformat()


def snapshot(
    *, conversation: Mapping[str, Any], messages: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    """The snapshot document: conversation metadata plus messages in order."""
    return {
        "format": SNAPSHOT_FORMAT,
        "conversation": dict(conversation),
        "messages": [dict(message, position=i) for i, message in enumerate(messages)],
    }


def snapshot_of_stored(conversation: Conversation, messages: Iterable[Message]) -> dict:
    """The snapshot of a conversation held in Vigil's own conversation store."""
    return snapshot(
        conversation={
            "id": conversation.external_id or conversation.public_ref,
            "model_id": conversation.model_id,
            "product": conversation.product,
            "title": conversation.title,
        },
        messages=[
            {
                "id": message.external_id,
                "role": message.role,
                "text": message.text,
                "created_at": _timestamp(message.created_at),
                "attachment": None
                if message.attachment_name is None
                else {
                    "name": message.attachment_name,
                    "media_type": message.attachment_media_type,
                    "size": message.attachment_size,
                    "sha256": message.attachment_sha256,
                },
            }
            for message in messages
        ],
    )


def case_data_key(
    session: Session, *, case: Case, keys: EvidenceKeys, new_case: bool = False
) -> bytes:
    """The case's data key, created and stored wrapped on first use."""
    row = None if new_case else session.get(CaseKey, case.id)
    if row is not None:
        return unwrap(keys.ring, row.wrapped, context=case_context(case.id))
    data_key = new_data_key()
    wrapped = wrap(keys.current, data_key, context=case_context(case.id))
    session.add(CaseKey(case_id=case.id, wrapped=wrapped, key_id=keys.current.key_id))
    return data_key


def latest_version(session: Session, *, case_id: int) -> EvidenceVersion | None:
    """The case's newest evidence version."""
    query = (
        select(EvidenceVersion)
        .where(EvidenceVersion.case_id == case_id)
        .order_by(col(EvidenceVersion.version).desc())
    )
    return session.exec(query).first()


def freeze_evidence(
    session: Session,
    *,
    case: Case,
    data_key: bytes,
    document: dict,
    now: datetime,
    new_case: bool = False,
) -> EvidenceVersion:
    """Seal the snapshot as the case's next version, or reuse the latest if unchanged."""
    plaintext = canonical_bytes(document)
    digest = content_hash(plaintext)
    latest = None if new_case else latest_version(session, case_id=case.id)
    if latest is not None and latest.content_hash == digest:
        return latest
    version = (latest.version if latest is not None else 0) + 1
    evidence = EvidenceVersion(
        case_id=case.id,
        version=version,
        content_hash=digest,
        message_count=len(document["messages"]),
        sealed=seal(data_key, plaintext, aad=evidence_aad(case.id, version)),
        created_at=now,
    )
    case.evidence_version = version
    session.add_all([evidence, case])
    session.flush()
    return evidence


def stored_data_key(session: Session, *, case_id: int, keys: EvidenceKeys) -> bytes:
    """The case's data key, unwrapped; SealError once it was destroyed (a purged case)."""
    row = session.get(CaseKey, case_id)
    return unwrap_data_key(row.wrapped if row else None, case_id=case_id, keys=keys)


def unwrap_data_key(wrapped: str | None, *, case_id: int, keys: EvidenceKeys) -> bytes:
    """A case's data key from its wrapped form as stored (None: destroyed, SealError)."""
    if wrapped is None:
        raise SealError("this case's data key was destroyed; its evidence is unreadable")
    return unwrap(keys.ring, wrapped, context=case_context(case_id))


def open_evidence(
    session: Session,
    *,
    evidence: EvidenceVersion,
    keys: EvidenceKeys,
    data_key: bytes | None = None,
) -> dict:
    """Decrypt one evidence version (callers log the access first; see DESIGN section 2),
    with its case's data key if the caller holds it already."""
    if data_key is None:
        data_key = stored_data_key(session, case_id=evidence.case_id, keys=keys)
    aad = evidence_aad(evidence.case_id, evidence.version)
    return json.loads(open_sealed(data_key, evidence.sealed, aad=aad))


def _statement_aad(case_id: int, report_ref: str) -> bytes:
    return canonical_bytes(["vigil.report.statement", str(case_id), report_ref])


def seal_statement(data_key: bytes, *, case_id: int, report_ref: str, statement: dict) -> bytes:
    """Seal a report's free text and contact details, bound to its case and reference."""
    return seal(data_key, canonical_bytes(statement), aad=_statement_aad(case_id, report_ref))


def open_statement(data_key: bytes, *, case_id: int, report_ref: str, blob: bytes) -> dict:
    """Open what seal_statement sealed."""
    return json.loads(open_sealed(data_key, blob, aad=_statement_aad(case_id, report_ref)))


def rotate_evidence_keys(
    session: Session, *, keys: EvidenceKeys, progress: Callable[[int], None] | None = None
) -> int:
    """Rewrap every data key not yet under the current master key; returns how many."""
    query = select(CaseKey).where(CaseKey.key_id != keys.current.key_id).order_by(CaseKey.case_id)
    done = 0
    for row in session.exec(query).all():
        context = case_context(row.case_id)
        row.wrapped = rewrap(keys.ring, keys.current, row.wrapped, context=context)
        row.key_id, row.rewrapped_at = keys.current.key_id, utcnow()
        session.add(row)
        done += 1
        if progress is not None:
            progress(done)
    return done
