"""Share links: a frozen copy of a conversation behind an unguessable token.

The token carries 192 random bits and is stored only as its SHA-256, so a database dump
opens no link. The copy holds the messages as they were when the link was made (later ones
never appear) and the owner's name only if they asked for it.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from access_control.models import User
from core.db import dialect_insert
from core.sealed_text import is_withheld
from core.timeutil import as_utc, utcnow
from privacy.conversations import messages_of
from privacy.models import Conversation, LinkRevoker, ShareBlock, ShareLink

TOKEN_BYTES = 24  # 192 bits
EXPIRY_CHOICES = {"": None, "1": 1, "7": 7, "30": 30}  # days; "" never expires
MAX_LINKS_PER_CONVERSATION = 20


class ShareError(ValueError):
    """A link that cannot be made."""


class LinkGone(LookupError):
    """The link existed but is gone; `removed` when a moderation decision took it down."""

    def __init__(self, *, removed: bool = False) -> None:
        super().__init__("link gone")
        self.removed = removed


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_link(
    session: Session,
    *,
    conversation: Conversation,
    owner: User,
    show_name: bool,
    expires_in_days: int | None,
) -> tuple[ShareLink, str]:
    """Freeze the conversation as it is now behind a new link; returns it and the raw token.

    The raw token is shown once (in the link) and never stored (caller commits).
    """
    if is_blocked(session, conversation_id=conversation.id):
        raise ShareError("This conversation cannot be shared: a moderation decision took it down.")
    messages = messages_of(session, conversation_id=conversation.id)
    if not messages:
        raise ShareError("There are no messages to share yet.")
    live = session.exec(
        select(ShareLink).where(
            ShareLink.conversation_id == conversation.id, col(ShareLink.revoked_at).is_(None)
        )
    ).all()
    if len(live) >= MAX_LINKS_PER_CONVERSATION:
        raise ShareError(
            f"A conversation can have at most {MAX_LINKS_PER_CONVERSATION} links; revoke one."
        )
    frozen = {
        "title": conversation.title,
        "model_id": conversation.model_id,
        "messages": [
            {
                "id": m.external_id,
                "role": m.role.value,
                "text": m.text,
                "created_at": as_utc(m.created_at).isoformat(),
            }
            for m in messages
        ],
    }
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = utcnow()
    link = ShareLink(
        conversation_id=conversation.id,
        token_hash=hash_token(token),
        snapshot=json.dumps(frozen, ensure_ascii=False),
        message_count=len(messages),
        shown_name=owner.display_name if show_name else "",
        created_at=now,
        expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    session.add(link)
    session.flush()
    return link, token


@dataclass(frozen=True)
class SharedView:
    """What a visitor of a link sees: the frozen copy (a notice from it reports this copy)."""

    link: ShareLink
    conversation: Conversation
    title: str
    model_id: str
    messages: list[dict]


def _is_live(link: ShareLink, now: datetime) -> bool:
    return link.revoked_at is None and (link.expires_at is None or as_utc(link.expires_at) > now)


def find_shared(session: Session, token: str) -> SharedView | None:
    """The shared copy for this token, without counting an open.

    None for a token that never existed; LinkGone for a revoked or expired one, or one whose
    conversation was deleted.
    """
    if not token or len(token) > 64:
        return None
    link = session.exec(select(ShareLink).where(ShareLink.token_hash == hash_token(token))).first()
    if link is None:
        return None
    conversation = session.get(Conversation, link.conversation_id)
    if not _is_live(link, utcnow()) or conversation is None or conversation.deleted_at:
        raise LinkGone(removed=link.revoked_by == LinkRevoker.DECISION)
    if is_blocked(session, conversation_id=conversation.id):
        raise LinkGone(removed=True)
    if is_withheld(link.snapshot):  # it failed its integrity check: nothing to show
        raise LinkGone(removed=False)
    frozen = json.loads(link.snapshot)
    return SharedView(
        link=link,
        conversation=conversation,
        title=frozen["title"],
        model_id=frozen["model_id"],
        messages=frozen["messages"],
    )


def open_link(session: Session, token: str) -> SharedView | None:
    """find_shared, counting the open (caller commits)."""
    view = find_shared(session, token)
    if view is not None:
        # Counted in the database, so two visitors at once both count.
        session.execute(
            update(ShareLink)
            .where(col(ShareLink.id) == view.link.id)
            .values(opens=ShareLink.opens + 1)
        )
    return view


def links_of(session: Session, *, owner: User) -> list[tuple[ShareLink, Conversation]]:
    """The owner's links with their conversations, newest first."""
    query = (
        select(ShareLink, Conversation)
        .join(Conversation, col(Conversation.id) == col(ShareLink.conversation_id))
        .where(Conversation.owner_id == owner.id, col(Conversation.deleted_at).is_(None))
        .order_by(col(ShareLink.created_at).desc(), col(ShareLink.id).desc())
    )
    return [(link, conversation) for link, conversation in session.exec(query)]


def link_state(link: ShareLink, now: datetime | None = None) -> str:
    """'active', 'revoked' or 'expired', for the owner's list."""
    if link.revoked_at is not None:
        return "revoked"
    if link.expires_at is not None and as_utc(link.expires_at) <= (now or utcnow()):
        return "expired"
    return "active"


def revoke_link(session: Session, *, owner: User, link_id: int) -> ShareLink | None:
    """Revoke one of the owner's links; None if it is not theirs (caller commits)."""
    row = session.exec(
        select(ShareLink)
        .join(Conversation, col(Conversation.id) == col(ShareLink.conversation_id))
        .where(ShareLink.id == link_id, Conversation.owner_id == owner.id)
    ).first()
    if row is None:
        return None
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        session.flush()
    return row


def is_blocked(session: Session, *, conversation_id: int) -> bool:
    """Whether a standing moderation decision forbids sharing this conversation."""
    query = select(ShareBlock).where(ShareBlock.conversation_id == conversation_id)
    return session.exec(query).first() is not None


def revoke_links_of(session: Session, *, conversation_id: int, ref: str) -> int:
    """Take down every live link to a conversation and block new ones while the decision
    named `ref` stands (caller commits); how many links went down."""
    session.execute(
        dialect_insert(session)(ShareBlock)
        .values(conversation_id=conversation_id, ref=ref)
        .on_conflict_do_nothing(index_elements=["conversation_id", "ref"])
    )
    result = session.execute(
        update(ShareLink)
        .where(
            col(ShareLink.conversation_id) == conversation_id, col(ShareLink.revoked_at).is_(None)
        )
        .values(revoked_at=utcnow(), revoked_by=LinkRevoker.DECISION, revoked_ref=ref)
    )
    return result.rowcount or 0


def restore_links_of(session: Session, *, conversation_id: int, ref: str) -> int:
    """The decision named `ref` no longer stands (an appeal overturned it): lift its block
    and bring back the links it took down, unless another decision still blocks sharing.
    Links their owner revoked stay revoked, and a deleted conversation's links stay gone."""
    session.execute(
        delete(ShareBlock).where(
            col(ShareBlock.conversation_id) == conversation_id, col(ShareBlock.ref) == ref
        )
    )
    conversation = session.get(Conversation, conversation_id)
    gone = conversation is None or conversation.deleted_at is not None
    if gone or is_blocked(session, conversation_id=conversation_id):
        return 0
    result = session.execute(
        update(ShareLink)
        .where(
            col(ShareLink.conversation_id) == conversation_id,
            col(ShareLink.revoked_by) == LinkRevoker.DECISION,
            col(ShareLink.revoked_ref) == ref,
            col(ShareLink.revoked_at).is_not(None),
        )
        .values(revoked_at=None, revoked_by=LinkRevoker.OWNER, revoked_ref="")
    )
    return result.rowcount or 0
