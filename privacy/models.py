"""The user's side: conversations and messages, consent, feedback, share links, exclusions."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime

from sqlalchemy import Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.columns import StrEnumType, enum_column, utc_column
from core.sealed_text import SealedText
from core.timeutil import utcnow


def new_public_ref() -> str:
    """A non-guessable conversation reference (80 random bits) for links and notices."""
    return secrets.token_hex(10)


class Product(enum.StrEnum):
    CHAT = "chat"
    API = "api"
    OCR = "ocr"


class Role(enum.StrEnum):
    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"


class ExclusionReason(enum.StrEnum):
    # Deliberately coarse: the training side learns that a conversation is out, never why
    # in moderation terms (no category, no label, no decision).
    REPORTED = "reported"  # permanent: exclusions are never removed


class LinkRevoker(enum.StrEnum):
    """Who ended a share link: the visitor's notice says which."""

    OWNER = "owner"
    DECISION = "decision"  # a moderation decision (restored if an appeal overturns it)


class Conversation(SQLModel, table=True):
    """A conversation owned by an account (web) or pushed by the chat backend (API)."""

    __tablename__ = "conversation"

    id: int | None = Field(default=None, primary_key=True)
    public_ref: str = Field(default_factory=new_public_ref, max_length=32, unique=True)
    # The chat backend's id; unique so API pushes find the same row again.
    external_id: str | None = Field(default=None, max_length=128, unique=True)
    owner_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    # The chat backend's pseudonymous owner id, for conversations without a Vigil account.
    owner_ref: str = Field(default="", max_length=128, index=True)  # the subject's history
    model_id: str = Field(max_length=100)
    product: Product = Field(sa_column=enum_column(Product, 8))
    # BCP 47 tag as the chat backend sent it ("de", "pt-BR"); "" when unknown.
    language: str = Field(default="", max_length=35)
    # Only Vigil-native conversations keep a title here (sealed: core.sealed_text): a title
    # is derived from content, so for API pushes it lives inside the sealed evidence instead.
    title: str = Field(default="", sa_column=Column(SealedText, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    # Set when the owner (or the chat backend for them) deleted it: its messages, links and
    # feedback are gone; the row stays only so report cases keep their reference.
    deleted_at: datetime | None = Field(default=None, sa_column=utc_column(True))


class Message(SQLModel, table=True):
    """One message of a conversation, in order; attachments are metadata only."""

    __tablename__ = "message"
    __table_args__ = (
        UniqueConstraint("conversation_id", "position"),
        UniqueConstraint("conversation_id", "external_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    position: int
    external_id: str = Field(max_length=128)
    role: Role = Field(sa_column=enum_column(Role, 16))
    # Sealed at rest (core.sealed_text): the database never holds message text in the clear.
    text: str = Field(default="", sa_column=Column(SealedText, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    attachment_name: str | None = Field(default=None, sa_column=Column(SealedText, nullable=True))
    attachment_media_type: str | None = Field(default=None, max_length=127)
    attachment_size: int | None = Field(default=None)
    attachment_sha256: str | None = Field(default=None, max_length=64)


class TrainingExclusion(SQLModel, table=True):
    """A conversation the training export must skip: the id and a coarse reason, nothing else."""

    __tablename__ = "training_exclusion"

    conversation_id: int = Field(foreign_key="conversation.id", primary_key=True)
    reason: ExclusionReason = Field(sa_column=enum_column(ExclusionReason, 32, primary_key=True))


class Plan(enum.StrEnum):
    """The plans of the chat product; which ones train by default is decided in consent.py."""

    FREE = "free"
    PRO = "pro"
    STUDENT = "student"
    TEAM = "team"
    ENTERPRISE = "enterprise"
    API_EXPERIMENT = "api_experiment"
    API_SCALE = "api_scale"


class ConsentSource(enum.StrEnum):
    WEB = "web"
    API = "api"
    ADMIN = "admin"


class Rating(enum.StrEnum):
    UP = "up"
    DOWN = "down"


class OwnerPrivacy(SQLModel, table=True):
    """One owner's plan and training choice: a Vigil account or a chat-backend owner id.

    No row, or no plan, means Vigil does not know the plan: never exported.
    """

    __tablename__ = "owner_privacy"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int | None = Field(default=None, foreign_key="user.id", unique=True)
    owner_ref: str | None = Field(default=None, max_length=128, unique=True)
    plan: Plan | None = Field(default=None, sa_column=Column(StrEnumType(Plan, 16), nullable=True))
    training_opt_out: bool = Field(default=False)
    # When the owner was first shown the feedback disclosure (web) or the chat backend
    # said it showed it (API); feedback is refused before that.
    feedback_disclosed_at: datetime | None = Field(default=None, sa_column=utc_column(True))
    # Which disclosure they saw (consent.FEEDBACK_*): a rating overrides an opt-out only if
    # the owner was told it would.
    feedback_disclosure: str = Field(default="", max_length=16)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class ConsentChange(SQLModel, table=True):
    """One change of plan or training choice: who, when, old, new, and through what."""

    __tablename__ = "consent_change"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    owner_ref: str | None = Field(default=None, max_length=128, index=True)
    actor: str = Field(max_length=200)
    source: ConsentSource = Field(sa_column=enum_column(ConsentSource, 8))
    old_plan: str | None = Field(default=None, max_length=16)
    new_plan: str | None = Field(default=None, max_length=16)
    old_opt_out: bool | None = Field(default=None)
    new_opt_out: bool = Field(default=False)
    changed_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class Feedback(SQLModel, table=True):
    """A thumbs up or down, with an optional comment, on one assistant message (latest wins)."""

    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("conversation_id", "message_external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    # The chat backend replaces message rows on every PUT, so feedback names the message by
    # its stable id, not by row.
    message_external_id: str = Field(max_length=128)
    rating: Rating = Field(sa_column=enum_column(Rating, 8))
    comment: str = Field(default="", sa_column=Column(SealedText, nullable=False))
    source: ConsentSource = Field(sa_column=enum_column(ConsentSource, 8))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class ShareLink(SQLModel, table=True):
    """A link to a frozen copy of a conversation; the token is stored only as its SHA-256."""

    __tablename__ = "share_link"

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    # The messages as they were when the link was made (JSON, sealed like message text).
    snapshot: str = Field(sa_column=Column(SealedText, nullable=False))
    message_count: int
    # Empty unless the owner ticked "show my name"; copied at creation time.
    shown_name: str = Field(default="", max_length=120)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    expires_at: datetime | None = Field(default=None, sa_column=utc_column(True))
    revoked_at: datetime | None = Field(default=None, sa_column=utc_column(True))
    revoked_by: LinkRevoker = Field(
        default=LinkRevoker.OWNER, sa_column=enum_column(LinkRevoker, 16, server_default="owner")
    )
    # The decision's opaque reference (a case) that took it down, so only that decision's
    # reversal brings it back.
    revoked_ref: str = Field(default="", max_length=32)
    opens: int = Field(default=0)


class ShareBlock(SQLModel, table=True):
    """While a moderation decision stands (named by an opaque reference), the conversation
    cannot be shared again: no new link, and no old link comes back."""

    __tablename__ = "share_block"

    conversation_id: int = Field(foreign_key="conversation.id", primary_key=True)
    ref: str = Field(max_length=32, primary_key=True)
