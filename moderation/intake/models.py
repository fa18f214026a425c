"""Intake tables: cases, reports, sealed evidence versions and case data keys."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Column, Index, LargeBinary, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel, col

from access_control.permissions import Queue
from core.columns import enum_column, utc_column
from core.timeutil import utcnow


class CaseState(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class CaseStage(enum.StrEnum):
    """Where an open case stands: first review, four-eyes confirmation, or an appeal."""

    REVIEW = "review"
    SECOND_REVIEW = "second_review"  # a provisional decision waits for a second specialist
    APPEAL = "appeal"  # reopened in the appeals queue


class Channel(enum.StrEnum):
    """How a report came in."""

    WEB = "web"  # a signed-in user reporting their own conversation
    NOTICE = "notice"  # the public DSA Art. 16 notice form
    API = "api"  # the chat backend with a service token


class ReportStatus(enum.StrEnum):
    """What the reporter sees (set by final decisions and appeals)."""

    RECEIVED = "received"
    CLOSED = "closed"  # decided before outcomes were recorded (before migration 0009)
    ACTION_TAKEN = "action_taken"
    NO_ACTION = "no_action"
    UNDER_APPEAL = "under_appeal"


class Case(SQLModel, table=True):
    """All open reports about one conversation, with queue, priority and SLA deadline."""

    __tablename__ = "moderation_case"
    __table_args__ = (
        # At most one open case per conversation, besides one under appeal: concurrent
        # intakes meet on this index, and a report during an appeal opens a case of its own.
        Index(
            "uq_moderation_case_open_conversation",
            "conversation_id",
            unique=True,
            sqlite_where=text("state = 'open' AND stage <> 'appeal'"),
            postgresql_where=text("state = 'open' AND stage <> 'appeal'"),
        ),
        # Queue header counts: capped range counts by age and by SLA deadline.
        Index("ix_moderation_case_queue_age", "state", "queue", "first_reported_at"),
        Index("ix_moderation_case_queue_sla", "state", "queue", "sla_due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    ref: str = Field(max_length=16, unique=True)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    state: CaseState = Field(default=CaseState.OPEN, sa_column=enum_column(CaseState, 8))
    stage: CaseStage = Field(
        default=CaseStage.REVIEW, sa_column=enum_column(CaseStage, 16, server_default="review")
    )
    queue: Queue = Field(sa_column=enum_column(Queue, 32))
    category: str = Field(max_length=64)  # the most severe category reported so far
    severity: int
    # Primary language subtag of the conversation ("de" for "de-AT"); "" when unknown.
    language: str = Field(default="", max_length=8)
    trusted_flagger: bool = Field(default=False)
    report_count: int = Field(default=0)
    distinct_reporters: int = Field(default=0)
    channels: str = Field(default="", max_length=64)  # sorted, comma-separated Channel values
    source_types: str = Field(default="", max_length=128)  # sorted, comma-separated sources
    priority: int = Field(default=0)
    evidence_version: int = Field(default=0)  # the latest EvidenceVersion.version
    # A report on a closed case opens a new case that points back at the old one.
    previous_case_id: int | None = Field(default=None, foreign_key="moderation_case.id")
    first_reported_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    last_reported_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    sla_due_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    closed_at: datetime | None = Field(default=None, sa_column=utc_column(True))
    # A final illegal-content decision quarantines the case (links gone, evidence on hold).
    quarantined_at: datetime | None = Field(default=None, sa_column=utc_column(True))
    # Retention ran out: the data key is destroyed, the evidence unreadable for good.
    purged_at: datetime | None = Field(default=None, sa_column=utc_column(True))


# Queue pages: open cases of one queue by priority (highest first), then oldest, then id,
# in the index's own order: a page reads its 50 entries, not a whole priority group sorted
# (at a million cases the top group holds thousands). Reviewers who read one language work
# a queue filtered to it, in the same order.
_QUEUE_ORDER = (col(Case.priority).desc(), col(Case.first_reported_at), col(Case.id))
Index("ix_moderation_case_queue_order", col(Case.state), col(Case.queue), *_QUEUE_ORDER)
Index(
    "ix_moderation_case_queue_language",
    col(Case.state),
    col(Case.queue),
    col(Case.language),
    *_QUEUE_ORDER,
)


class CaseKey(SQLModel, table=True):
    """A case's data key, wrapped by the master key; deleting it shreds the evidence."""

    __tablename__ = "case_key"

    case_id: int = Field(foreign_key="moderation_case.id", primary_key=True)
    wrapped: str = Field(max_length=200)
    key_id: str = Field(max_length=32, index=True)  # which master key wraps it (rotation)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    rewrapped_at: datetime | None = Field(default=None, sa_column=utc_column(True))


class EvidenceVersion(SQLModel, table=True):
    """A frozen, sealed snapshot of the reported conversation; a new one per new content."""

    __tablename__ = "evidence_version"
    __table_args__ = (UniqueConstraint("case_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="moderation_case.id", index=True)
    version: int
    content_hash: str = Field(max_length=71)  # "sha256:<hex>" of the canonical plaintext
    message_count: int
    sealed: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class Report(SQLModel, table=True):
    """One report as received: who (pseudonymously), how, which messages, which evidence."""

    __tablename__ = "report"
    # The reporter's page: their reports, newest first, read from the index alone.
    __table_args__ = (Index("ix_report_reporter_newest", "reporter_user_id", "created_at", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    ref: str = Field(max_length=16, unique=True)  # the reporter's receipt number
    case_id: int = Field(foreign_key="moderation_case.id", index=True)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    evidence_version_id: int = Field(foreign_key="evidence_version.id")
    channel: Channel = Field(sa_column=enum_column(Channel, 8))
    source_type: str = Field(max_length=32)  # taxonomy.SOURCES
    category: str = Field(max_length=64)
    message_ids: str = Field(default="[]", sa_column=Column(Text, nullable=False))  # JSON list
    # Counts distinct reporters without naming them: "user:<id>", "api:<pseudonym>",
    # "notice:<keyed hash of the email>" or "notice:anonymous:<ref>".
    reporter_key: str = Field(max_length=160, index=True)
    reporter_user_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    token_id: int | None = Field(default=None, foreign_key="service_token.id", index=True)
    status: ReportStatus = Field(
        default=ReportStatus.RECEIVED, sa_column=enum_column(ReportStatus, 16)
    )
    good_faith: bool = Field(default=False)
    # Description and notifier contact, sealed under the case key: free text may quote
    # the reported content, and contact details are personal data.
    statement_sealed: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
