"""Reviewer workspace tables: claims, timeline, notes, break-glass grants, decisions."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from core.columns import StrEnumType, enum_column, utc_column
from core.sealed_text import SealedText
from core.timeutil import utcnow


class CaseClaim(SQLModel, table=True):
    """The live claim on a case: one row per case at most (the primary key is the lock)."""

    __tablename__ = "case_claim"

    case_id: int = Field(foreign_key="moderation_case.id", primary_key=True)
    reviewer_id: int = Field(foreign_key="user.id", index=True)
    token: str = Field(max_length=64)  # every decision must echo it; stale → 409
    claimed_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    lease_until: datetime = Field(sa_column=utc_column())


class TimelineKind(enum.StrEnum):
    CLAIMED = "claimed"
    RELEASED = "released"
    REASSIGNED = "reassigned"
    ESCALATED = "escalated"
    NOTE = "note"
    LABELLED = "labelled"
    DECIDED = "decided"  # final, or provisional until a second specialist confirms
    CONFIRMED = "confirmed"
    OVERTURNED = "overturned"
    QUARANTINED = "quarantined"
    QUARANTINE_LIFTED = "quarantine_lifted"
    APPEALED = "appealed"
    APPEAL_DECIDED = "appeal_decided"
    HOLD_PLACED = "hold_placed"
    HOLD_LIFTED = "hold_lifted"
    PURGED = "purged"
    LEGAL_REQUEST = "legal_request"
    QA_SAMPLED = "qa_sampled"
    BREAK_GLASS_REQUESTED = "break_glass_requested"
    BREAK_GLASS_APPROVED = "break_glass_approved"
    BREAK_GLASS_REFUSED = "break_glass_refused"


# Lines whose detail people type (notes, escalations, confirmations, appeal reasons) may
# quote content: auditors see that they exist, not what they say, and a purge blanks them.
FREE_TEXT_KINDS = frozenset(
    {
        TimelineKind.NOTE,
        TimelineKind.ESCALATED,
        TimelineKind.CONFIRMED,
        TimelineKind.APPEAL_DECIDED,
        TimelineKind.REASSIGNED,
        TimelineKind.BREAK_GLASS_REQUESTED,
    }
)


class CaseEvent(SQLModel, table=True):
    """One line of a case's timeline (who, what, when); notes keep their text here."""

    __tablename__ = "case_event"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="moderation_case.id", index=True)
    kind: TimelineKind = Field(sa_column=enum_column(TimelineKind, 32))
    actor_id: int | None = Field(default=None)
    actor_label: str = Field(max_length=400)
    # Sealed (core.sealed_text): typed notes may quote content.
    detail: str = Field(default="", sa_column=Column(SealedText, nullable=False))
    occurred_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class GrantState(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"


class BreakGlassGrant(SQLModel, table=True):
    """Emergency access to one case: requested with a reason, approved by someone else."""

    __tablename__ = "break_glass_grant"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="moderation_case.id", index=True)
    requester_id: int = Field(foreign_key="user.id", index=True)
    reason: str = Field(sa_column=Column(SealedText, nullable=False))  # sealed: may quote content
    state: GrantState = Field(default=GrantState.PENDING, sa_column=enum_column(GrantState, 16))
    requested_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    approver_id: int | None = Field(default=None, foreign_key="user.id")
    approved_at: datetime | None = Field(default=None, sa_column=utc_column(True))
    expires_at: datetime | None = Field(default=None, sa_column=utc_column(True))
    refusal_reason: str = Field(default="", max_length=500)  # told to the requester


class Outcome(enum.StrEnum):
    """What a decision does (its action)."""

    NO_ACTION = "no_action"
    DISABLE_SHARE_LINKS = "disable_share_links"
    REMOVE = "remove"
    RESTRICT = "restrict"  # the account, until a date
    REFER_TO_LAW_ENFORCEMENT = "refer_to_law_enforcement"


# Actions that restrict someone: they ask for confirmation and produce a statement of reasons.
DESTRUCTIVE = frozenset({Outcome.DISABLE_SHARE_LINKS, Outcome.REMOVE, Outcome.RESTRICT})


class Ground(enum.StrEnum):
    """Why: illegal content (with its legal ground), against the terms but legal, or neither."""

    ILLEGAL = "illegal"
    INCOMPATIBLE = "incompatible"
    NO_VIOLATION = "no_violation"


class Automation(enum.StrEnum):
    """How far the decision itself was automated (DSA automated_decision)."""

    NOT_AUTOMATED = "not_automated"
    PARTIALLY = "partially"
    FULLY = "fully"


class DecisionKind(enum.StrEnum):
    FIRST = "first"  # the claimer's decision
    SECOND_REVIEW = "second_review"  # a second specialist confirmed or replaced it
    APPEAL = "appeal"  # an appeal reviewer replaced it (an upheld appeal adds no decision)


class CaseDecision(SQLModel, table=True):
    """A decision on a case with its statement of reasons; rows are never changed."""

    __tablename__ = "case_decision"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="moderation_case.id", index=True)
    reviewer_id: int = Field(foreign_key="user.id")
    outcome: Outcome = Field(sa_column=enum_column(Outcome, 32))
    labels: str = Field(default="", max_length=400)  # comma-separated taxonomy keys
    decided_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    ground: Ground = Field(
        default=Ground.NO_VIOLATION,
        sa_column=enum_column(Ground, 16, server_default="no_violation"),
    )
    # The law (illegal) or the term (incompatible) relied on, and why the content breaks it.
    legal_ground: str = Field(default="", max_length=500)
    terms_ground: str = Field(default="", max_length=500)
    explanation: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    # Facts and circumstances, in the decider's own words (DSA Art. 17(3)(b)).
    facts: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    automated_detection: bool = Field(default=False)
    automated_decision: Automation = Field(
        default=Automation.NOT_AUTOMATED,
        sa_column=enum_column(Automation, 16, server_default="not_automated"),
    )
    restricted_until: date | None = Field(default=None)
    # The decision this one replaces (decisions are append-only; history stays).
    supersedes_id: int | None = Field(default=None, foreign_key="case_decision.id")
    kind: DecisionKind = Field(
        default=DecisionKind.FIRST, sa_column=enum_column(DecisionKind, 16, server_default="first")
    )
    # Provisional: a severe category waits for a second specialist (four-eyes); only a
    # final decision has effects, a statement of reasons and an appeal window.
    final: bool = Field(default=True)


class HoldSource(enum.StrEnum):
    QUARANTINE = "quarantine"  # placed by a final illegal-content decision
    LEGAL = "legal"  # placed by a legal specialist (an order, a preservation request)


class LegalHold(SQLModel, table=True):
    """Evidence that must not be purged until `until` (or until lifted)."""

    __tablename__ = "legal_hold"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="moderation_case.id", index=True)
    source: HoldSource = Field(sa_column=enum_column(HoldSource, 16))
    reason: str = Field(max_length=500)
    placed_by: str = Field(max_length=400)  # an account label, or "system"
    placed_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    until: datetime | None = Field(default=None, sa_column=utc_column(True))  # None: open-ended
    lifted_at: datetime | None = Field(default=None, sa_column=utc_column(True))
    lifted_by: str = Field(default="", max_length=400)
    lift_reason: str = Field(default="", max_length=500)


class Appellant(enum.StrEnum):
    AFFECTED = "affected"  # the owner of the content the decision is about
    REPORTER = "reporter"  # someone who reported it


class AppealOutcome(enum.StrEnum):
    UPHELD = "upheld"
    OVERTURNED = "overturned"


class Appeal(SQLModel, table=True):
    """A complaint against a final decision (DSA Art. 20): free, within the window."""

    __tablename__ = "appeal"

    id: int | None = Field(default=None, primary_key=True)
    ref: str = Field(max_length=16, unique=True)
    case_id: int = Field(foreign_key="moderation_case.id", index=True)
    decision_id: int = Field(foreign_key="case_decision.id")  # the decision appealed
    appellant: Appellant = Field(sa_column=enum_column(Appellant, 16))
    # Who, without naming them: "user:<id>", "owner:<chat-backend id>" or "report:<ref>".
    appellant_key: str = Field(max_length=200, index=True)
    report_id: int | None = Field(default=None, foreign_key="report.id")
    statement: str = Field(sa_column=Column(SealedText, nullable=False))  # may quote content
    channel: str = Field(max_length=8)  # web or api
    filed_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    from_queue: str = Field(max_length=32)  # where the case goes back after the appeal
    outcome: AppealOutcome | None = Field(
        default=None, sa_column=Column(StrEnumType(AppealOutcome, 16), nullable=True)
    )
    decided_at: datetime | None = Field(default=None, sa_column=utc_column(True))
    result_decision_id: int | None = Field(default=None, foreign_key="case_decision.id")
    decided_by: int | None = Field(default=None)  # who upheld it (an overturn is a decision)
    # Why the decision stands, told to the appellant (DSA Art. 20(5): a reasoned decision).
    outcome_reason: str = Field(default="", max_length=2000)


class LegalRequest(SQLModel, table=True):
    """A legal request (order, authority request) that lets legal open one case for a while."""

    __tablename__ = "legal_request"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="moderation_case.id", index=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    reference: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    expires_at: datetime = Field(sa_column=utc_column())


class QaSample(SQLModel, table=True):
    """A decided case drawn at random for a QA reviewer, readable by them for a while."""

    __tablename__ = "qa_sample"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="moderation_case.id", index=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    drawn_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    expires_at: datetime = Field(sa_column=utc_column())


class ReviewPreference(SQLModel, table=True):
    """A reviewer's wellness settings; absent means the organisation default."""

    __tablename__ = "review_preference"

    user_id: int = Field(foreign_key="user.id", primary_key=True)
    blur: bool = Field(default=True)
    greyscale: bool = Field(default=True)
    # The IANA time zone the reviewer reads times in (stored times stay UTC).
    time_zone: str = Field(default="UTC", max_length=64)
