"""Feedback on assistant messages, the disclosure that comes first, and aggregate statistics."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, col, select

from core.db import dialect_insert
from core.timeutil import utcnow
from privacy.consent import Owner, feedback_disclosure_kind, privacy_of
from privacy.models import ConsentSource, Conversation, Feedback, Message, Rating, Role

MAX_COMMENT_CHARS = 2000
SMALL_CELL = 10  # statistics cells below this are suppressed

DISCLOSURE = (
    "If you rate an answer, the rating, your question and the rated answer may be used to "
    "improve our models, even if you opted out of training. Conversations removed by "
    "moderation are never used."
)
DISCLOSURE_OPT_OUT_WINS = (
    "If you rate an answer, the rating, your question and the rated answer may be used to "
    "improve our models unless you opted out of training. Conversations removed by "
    "moderation are never used."
)


class FeedbackError(ValueError):
    """Feedback that cannot be stored; `field` names the input at fault."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.field, self.status = field, status


def disclosure(overrides_opt_out: bool) -> str:
    """What the owner is told before their first rating, under the current setting."""
    return DISCLOSURE if overrides_opt_out else DISCLOSURE_OPT_OUT_WINS


def owner_of(conversation: Conversation) -> Owner | None:
    """The consent owner of a conversation: its account, else its chat-backend owner id."""
    if conversation.owner_id is not None:
        return Owner(user_id=conversation.owner_id)
    if conversation.owner_ref:
        return Owner(owner_ref=conversation.owner_ref)
    return None


def disclosure_seen(session: Session, conversation: Conversation, overrides_opt_out: bool) -> bool:
    """True once the owner has been shown the disclosure that matches the current setting
    (when the setting changes, they are told again before their next rating)."""
    owner = owner_of(conversation)
    row = privacy_of(session, owner) if owner is not None else None
    return row is not None and row.feedback_disclosure == feedback_disclosure_kind(
        overrides_opt_out
    )


def give_feedback(
    session: Session,
    *,
    conversation: Conversation,
    message_external_id: str,
    rating: str,
    comment: str,
    source: ConsentSource,
) -> Feedback:
    """Store (or replace) the rating of one assistant message (caller commits)."""
    if conversation.deleted_at is not None:
        raise FeedbackError("conversation", "This conversation was deleted.")
    message = session.exec(
        select(Message).where(
            Message.conversation_id == conversation.id,
            Message.external_id == message_external_id,
        )
    ).first()
    if message is None:
        raise FeedbackError("message", "No message with this id in the conversation.", 404)
    if message.role != Role.ASSISTANT:
        raise FeedbackError("message", "Only assistant messages can be rated.")
    if len(comment) > MAX_COMMENT_CHARS:
        raise FeedbackError("comment", f"At most {MAX_COMMENT_CHARS} characters.")
    values = dict(
        conversation_id=conversation.id,
        message_external_id=message_external_id,
        rating=Rating(rating),
        comment="",  # sealed below, bound to the row the upsert landed on
        source=ConsentSource(source),
        created_at=utcnow(),
    )
    # One rating per message: a second one replaces the first (atomic on both databases).
    insert = dialect_insert(session)(Feedback).values(**values)
    statement = insert.on_conflict_do_update(
        index_elements=["conversation_id", "message_external_id"],
        set_={key: insert.excluded[key] for key in ("rating", "comment", "source", "created_at")},
    )
    session.execute(statement)
    feedback = session.exec(
        select(Feedback)
        .where(
            Feedback.conversation_id == conversation.id,
            Feedback.message_external_id == message_external_id,
        )
        .execution_options(populate_existing=True)
    ).one()
    feedback.comment = comment.strip()
    session.add(feedback)
    session.flush()
    return feedback


def feedback_of(session: Session, *, conversation_id: int) -> dict[str, Feedback]:
    """This conversation's ratings by message id."""
    rows = session.exec(select(Feedback).where(Feedback.conversation_id == conversation_id))
    return {row.message_external_id: row for row in rows}


@dataclass(frozen=True)
class StatCell:
    model_id: str
    rating: str
    count: int | None  # None: fewer than SMALL_CELL, suppressed


def feedback_statistics(session: Session, *, small_cell: int = SMALL_CELL) -> list[StatCell]:
    """Ratings counted by model and rating; cells under `small_cell` are suppressed.

    Only these aggregates leave Vigil: no conversation, no comment, no owner.
    """
    query = (
        select(Conversation.model_id, Feedback.rating, func.count())
        .join(Conversation, col(Conversation.id) == col(Feedback.conversation_id))
        .where(col(Conversation.deleted_at).is_(None))
        .group_by(Conversation.model_id, Feedback.rating)
        .order_by(Conversation.model_id, Feedback.rating)
    )
    return [
        StatCell(model_id=model, rating=str(rating), count=count if count >= small_cell else None)
        for model, rating, count in session.exec(query)
    ]
