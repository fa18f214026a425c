"""Conversation services: create, store, list, look up, lock, and the training exclusion list."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, delete, select

from access_control.models import User
from access_control.permissions import Resource
from core.db import dialect_insert
from core.timeutil import utcnow
from privacy.models import (
    Conversation,
    ExclusionReason,
    Message,
    Product,
    Role,
    TrainingExclusion,
    new_public_ref,
)

# Products whose text Vigil never keeps outside report evidence (and never exports).
ZERO_RETENTION = frozenset({Product.OCR})


@dataclass(frozen=True)
class MessageDraft:
    """A message to store: what the chat backend or the demo data hands over."""

    role: str
    text: str
    created_at: datetime | None = None
    external_id: str = ""
    attachment_name: str | None = None
    attachment_media_type: str | None = None
    attachment_size: int | None = None
    attachment_sha256: str | None = None


def create_conversation(
    session: Session,
    *,
    owner: User | None,
    model_id: str,
    product: str = Product.CHAT,
    title: str = "",
    external_id: str | None = None,
    language: str = "",
    messages: Sequence[MessageDraft] = (),
) -> Conversation:
    """Store a conversation with its messages in order (caller commits)."""
    conversation = Conversation(
        owner_id=owner.id if owner is not None else None,
        model_id=model_id,
        product=Product(product),
        title=title,
        external_id=external_id,
        language=language,
    )
    session.add(conversation)
    session.flush()
    _add_messages(session, conversation_id=conversation.id, messages=messages)
    return conversation


def _add_messages(
    session: Session, *, conversation_id: int, messages: Sequence[MessageDraft]
) -> None:
    for position, draft in enumerate(messages):
        session.add(
            Message(
                conversation_id=conversation_id,
                position=position,
                external_id=draft.external_id or f"m_{secrets.token_hex(6)}",
                role=Role(draft.role),
                text=draft.text,
                created_at=draft.created_at or utcnow(),
                attachment_name=draft.attachment_name,
                attachment_media_type=draft.attachment_media_type,
                attachment_size=draft.attachment_size,
                attachment_sha256=draft.attachment_sha256,
            )
        )
    session.flush()


def list_conversations(session: Session, *, owner: User) -> list[Conversation]:
    """The account's own conversations, newest first."""
    query = (
        select(Conversation)
        .where(Conversation.owner_id == owner.id, col(Conversation.deleted_at).is_(None))
        .order_by(col(Conversation.updated_at).desc(), col(Conversation.id).desc())
    )
    return list(session.exec(query))


def find_by_public_ref(session: Session, *, public_ref: str) -> Conversation | None:
    """The conversation a notice or share link names, if any."""
    query = select(Conversation).where(Conversation.public_ref == public_ref)
    return session.exec(query).first()


def messages_of(session: Session, *, conversation_id: int) -> list[Message]:
    """A conversation's messages in order."""
    query = (
        select(Message)
        .where(Message.conversation_id == conversation_id)
        .order_by(col(Message.position))
    )
    return list(session.exec(query))


def lock_conversation(session: Session, *, conversation_id: int) -> Conversation | None:
    """Read the conversation row FOR UPDATE, so intakes for one conversation run one by one."""
    query = (
        select(Conversation)
        .where(Conversation.id == conversation_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.exec(query).first()


def upsert_external(
    session: Session,
    *,
    external_id: str,
    model_id: str,
    product: str,
    owner_ref: str = "",
    language: str = "",
) -> tuple[Conversation, bool]:
    """Find or create the row for a chat-backend conversation, locked for this transaction;
    returns it and whether this call created it.

    Only metadata is kept here: a report's pushed messages live in sealed evidence, and
    message rows come only from store_external_conversation. Empty owner_ref and language
    mean "unknown" and keep what the row already knows.
    """
    # INSERT ... ON CONFLICT DO NOTHING makes two first pushes of one conversation meet on
    # the same row instead of one of them failing on the unique index; RETURNING yields a
    # row only to the one that created it.
    now = utcnow()
    insert = dialect_insert(session)
    statement = (
        insert(Conversation)
        .values(
            public_ref=new_public_ref(),
            external_id=external_id,
            owner_ref=owner_ref,
            model_id=model_id,
            product=Product(product),
            title="",
            language=language,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["external_id"])
        .returning(col(Conversation.id))
    )
    created = session.execute(statement).first() is not None
    query = (
        select(Conversation)
        .where(Conversation.external_id == external_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    conversation = session.exec(query).one()
    conversation.model_id, conversation.product = model_id, Product(product)
    conversation.owner_ref = owner_ref or conversation.owner_ref
    conversation.language = language or conversation.language
    conversation.updated_at = now
    session.add(conversation)
    return conversation, created


def store_external_conversation(
    session: Session,
    *,
    external_id: str,
    model_id: str,
    product: str,
    owner_ref: str = "",
    language: str = "",
    messages: Sequence[MessageDraft],
) -> tuple[Conversation, bool]:
    """Create or replace a chat-backend conversation and its messages (caller commits).

    The stored message list becomes `messages`, in order, sealed at rest like every message;
    for a zero-retention product (OCR) no message is stored at all.
    Evidence already frozen for a case is not touched. The title is not stored: it is
    derived from content and stays inside sealed evidence. Returns the row and whether this
    call created it.
    """
    conversation, created = upsert_external(
        session,
        external_id=external_id,
        model_id=model_id,
        product=product,
        owner_ref=owner_ref,
        language=language,
    )
    conversation.deleted_at = None  # the chat backend stores it again: it exists again
    # A bulk DELETE runs now, so the new rows do not meet the old ones on the unique
    # (conversation, position) and (conversation, external id) constraints.
    session.execute(delete(Message).where(col(Message.conversation_id) == conversation.id))
    if conversation.product in ZERO_RETENTION:
        return conversation, created  # its text lives only in report evidence, if reported
    _add_messages(session, conversation_id=conversation.id, messages=messages)
    return conversation, created


def primary_language(tag: str) -> str:
    """The primary subtag of a BCP 47 tag, lowercased: "pt-BR" -> "pt"; "" stays ""."""
    return tag.split("-", 1)[0].lower()


def exclude_from_training(
    session: Session, *, conversation_id: int, reason: ExclusionReason = ExclusionReason.REPORTED
) -> None:
    """Put a conversation on the training exclusion list (idempotent; caller commits)."""
    statement = (
        dialect_insert(session)(TrainingExclusion)
        .values(conversation_id=conversation_id, reason=ExclusionReason(reason))
        .on_conflict_do_nothing(index_elements=["conversation_id", "reason"])
    )
    session.execute(statement)


def is_excluded(session: Session, *, conversation_id: int) -> bool:
    """True if the training export must skip this conversation."""
    query = select(TrainingExclusion).where(TrainingExclusion.conversation_id == conversation_id)
    return session.exec(query).first() is not None


def conversation_resource(conversation: Conversation) -> Resource:
    """The policy's view of a conversation: its owner, for the `self` condition."""
    owner = f"user:{conversation.owner_id}" if conversation.owner_id is not None else ""
    return Resource(kind="conversation", owner=owner)
