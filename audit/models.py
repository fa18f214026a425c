"""Tables of the content access log: entries, erasable notes, checkpoints, verification runs.

No foreign keys to moderation tables: entries must outlive purged cases, so case and
conversation ids are kept as plain strings.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, ForeignKey, Integer, LargeBinary, Text
from sqlmodel import Field, SQLModel

from core.columns import utc_column
from core.timeutil import utcnow


def _hash_column(unique: bool = False) -> Column:
    return Column(LargeBinary(32), nullable=False, unique=unique)


class AccessEntry(SQLModel, table=True):
    """One look at content, or one denied attempt; append-only and hash-chained."""

    __tablename__ = "access_entry"

    # Gap-free, starting at 0: an entry's seq is its leaf index in the Merkle tree.
    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    format: int = Field(default=1)  # version of the leaf field list (audit.access_log)
    occurred_at: datetime = Field(default_factory=utcnow, sa_column=utc_column(index=True))
    # Who acted: id plus a copied label so the entry survives the account.
    actor_id: int | None = Field(default=None, index=True)
    actor_label: str = Field(max_length=400)
    action: str = Field(max_length=32)  # audit.reasons.AccessAction
    decision: str = Field(max_length=16)  # audit.reasons.Decision
    reason_code: str = Field(default="", max_length=32)  # audit.reasons.ReasonCode or ""
    case_id: str = Field(default="", max_length=64, index=True)
    conversation_id: str = Field(default="", max_length=64, index=True)
    evidence_version: int | None = Field(default=None)
    request_id: str = Field(default="", max_length=64)
    client_address: str = Field(default="", max_length=64)
    # Hex SHA-256(salt || note text); the text itself lives in access_note (erasable).
    note_commitment: str = Field(default="", max_length=64)
    # Format 2: the queue looked at, the message number as the case page shows it
    # (1-based), the break-glass grant a look relied on.
    queue: str = Field(default="", max_length=32)
    message: int | None = Field(default=None)
    grant_id: str = Field(default="", max_length=64)
    # Unique: two appends that read the same head cannot both commit (no silent fork).
    prev_hash: bytes = Field(sa_column=_hash_column(unique=True))
    leaf_hash: bytes = Field(sa_column=_hash_column())
    entry_hash: bytes = Field(sa_column=_hash_column(unique=True))
    # HMAC-SHA256(AUDIT_MAC_KEY, entry_hash): the key is not in the database, so a
    # database writer cannot add or rehash an entry. NULL only for format-1 entries.
    entry_mac: bytes | None = Field(default=None, sa_column=Column(LargeBinary(32)))


class AccessNote(SQLModel, table=True):
    """The free text behind an entry's commitment; deleting the row erases it (GDPR)."""

    __tablename__ = "access_note"

    entry_seq: int = Field(
        sa_column=Column(
            BigInteger, ForeignKey("access_entry.seq"), primary_key=True, autoincrement=False
        )
    )
    salt: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False, unique=True))
    text: str = Field(sa_column=Column(Text, nullable=False))


class AuditCheckpoint(SQLModel, table=True):
    """A signed checkpoint (C2SP note) of the log; a copy also lives in CHECKPOINT_DIR."""

    __tablename__ = "audit_checkpoint"

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    origin: str = Field(max_length=200)
    tree_size: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    root_hash: bytes = Field(sa_column=_hash_column())
    chain_head: bytes = Field(sa_column=_hash_column())
    key_id: str = Field(max_length=8)  # hex of the note key ID
    note: str = Field(sa_column=Column(Text, nullable=False))  # what the verifier reads
    file_name: str = Field(default="", max_length=200)


class VerificationRun(SQLModel, table=True):
    """The outcome of one `audit verify`, for the auditor's status panel."""

    __tablename__ = "audit_verification"

    id: int | None = Field(default=None, primary_key=True)
    started_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    finished_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    tree_size: int = Field(sa_column=Column(BigInteger, nullable=False))
    ok: bool
    problems: int = Field(sa_column=Column(Integer, nullable=False))
    redacted: int = Field(default=0)
    checkpoints: int = Field(default=0)  # how many signed checkpoints were checked
    summary: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    trigger: str = Field(default="", max_length=16)  # "cli", "schedule" or "request"
    request_id: int | None = Field(default=None)  # the VerifyRequest it answered
    # Seconds between the newest signed checkpoint and the run (None: no checkpoint).
    anchor_age_seconds: int | None = Field(default=None, sa_column=Column(BigInteger))


class VerifyRequest(SQLModel, table=True):
    """An auditor's "verify now": the sidecar answers it with a VerificationRun."""

    __tablename__ = "audit_verify_request"

    id: int | None = Field(default=None, primary_key=True)
    requested_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    requested_by: int | None = Field(default=None)
    requested_by_label: str = Field(max_length=400)
