"""Reviewer workspace tables: claims, timeline, notes, break-glass grants, decisions."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Column, DateTime, Text
from sqlmodel import Field, SQLModel

from core.timeutil import utcnow


def _utc(nullable: bool = False) -> Column:
    return Column(DateTime(timezone=True), nullable=nullable)


class CaseClaim(SQLModel, table=True):
    """The live claim on a case: one row per case at most (the primary key is the lock)."""

    __tablename__ = "case_claim"

    case_id: int = Field(foreign_key="moderation_case.id", primary_key=True)
    reviewer_id: int = Field(foreign_key="user.id", index=True)
    token: str = Field(max_length=64)  # every decision must echo it; stale → 409
    claimed_at: datetime = Field(default_factory=utcnow, sa_column=_utc())
    lease_until: datetime = Field(sa_column=_utc())


class TimelineKind(enum.StrEnum):
    CLAIMED = "claimed"
    RELEASED = "released"
    REASSIGNED = "reassigned"
    ESCALATED = "escalated"
    NOTE = "note"
    DECIDED = "decided"
    BREAK_GLASS_REQUESTED = "break_glass_requested"
    BREAK_GLASS_APPROVED = "break_glass_approved"


class CaseEvent(SQLModel, table=True):
    """One line of a case's timeline (who, what, when); notes keep their text here."""

    __tablename__ = "case_event"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="moderation_case.id", index=True)
    kind: str = Field(max_length=32)  # TimelineKind
    actor_id: int | None = Field(default=None)
    actor_label: str = Field(max_length=400)
    detail: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    occurred_at: datetime = Field(default_factory=utcnow, sa_column=_utc())


class GrantState(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"


class BreakGlassGrant(SQLModel, table=True):
    """Emergency access to one case: requested with a reason, approved by someone else."""

    __tablename__ = "break_glass_grant"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="moderation_case.id", index=True)
    requester_id: int = Field(foreign_key="user.id", index=True)
    reason: str = Field(max_length=1000)
    state: str = Field(default=GrantState.PENDING.value, max_length=16)
    requested_at: datetime = Field(default_factory=utcnow, sa_column=_utc())
    approver_id: int | None = Field(default=None, foreign_key="user.id")
    approved_at: datetime | None = Field(default=None, sa_column=_utc(True))
    expires_at: datetime | None = Field(default=None, sa_column=_utc(True))


class CaseDecision(SQLModel, table=True):
    """A reviewer's decision on a case (the statement of reasons grows in a later issue)."""

    __tablename__ = "case_decision"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="moderation_case.id", index=True)
    reviewer_id: int = Field(foreign_key="user.id")
    outcome: str = Field(max_length=32)
    labels: str = Field(default="", max_length=400)  # comma-separated taxonomy keys
    decided_at: datetime = Field(default_factory=utcnow, sa_column=_utc())


class ReviewPreference(SQLModel, table=True):
    """A reviewer's wellness settings; absent means the organisation default."""

    __tablename__ = "review_preference"

    user_id: int = Field(foreign_key="user.id", primary_key=True)
    blur: bool = Field(default=True)
    greyscale: bool = Field(default=True)
