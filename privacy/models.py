"""The user's side: conversations, their messages, and the training exclusion list."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime

from sqlalchemy import Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.columns import enum_column, utc_column
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
    REPORTED = "reported"


class Conversation(SQLModel, table=True):
    """A conversation owned by an account (web) or pushed by the chat backend (API)."""

    __tablename__ = "conversation"

    id: int | None = Field(default=None, primary_key=True)
    public_ref: str = Field(default_factory=new_public_ref, max_length=32, unique=True)
    # The chat backend's id; unique so API pushes find the same row again.
    external_id: str | None = Field(default=None, max_length=128, unique=True)
    owner_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    # The chat backend's pseudonymous owner id, for conversations without a Vigil account.
    owner_ref: str = Field(default="", max_length=128)
    model_id: str = Field(max_length=100)
    product: Product = Field(sa_column=enum_column(Product, 8))
    # BCP 47 tag as the chat backend sent it ("de", "pt-BR"); "" when unknown.
    language: str = Field(default="", max_length=35)
    # Only Vigil-native conversations keep a title here: a title is derived from content,
    # so for API pushes it lives inside the sealed evidence instead.
    title: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


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
    attachment_name: str | None = Field(default=None, max_length=255)
    attachment_media_type: str | None = Field(default=None, max_length=127)
    attachment_size: int | None = Field(default=None)
    attachment_sha256: str | None = Field(default=None, max_length=64)


class TrainingExclusion(SQLModel, table=True):
    """A conversation the training export must skip: the id and a coarse reason, nothing else."""

    __tablename__ = "training_exclusion"

    conversation_id: int = Field(foreign_key="conversation.id", primary_key=True)
    reason: ExclusionReason = Field(sa_column=enum_column(ExclusionReason, 32, primary_key=True))
