"""Data rights: download everything, delete a conversation, delete the account; immediate, free.

Other packages hold data about a person too (reports they filed, evidence of reported
conversations). privacy imports none of them: they register here instead, at start-up,
with `add_data_section` (what a download includes) and `add_hold_check` (what an erasure
must keep, and why).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from flask import Flask, current_app, has_app_context
from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from access_control.accounts import is_staff, rotate_sessions
from access_control.journal import EventType, record_event
from access_control.models import AccountStatus, RecoveryCode, User
from core.timeutil import as_utc, utcnow
from privacy.consent import Owner, consent_history, explain, privacy_of
from privacy.models import (
    ConsentChange,
    Conversation,
    Feedback,
    Message,
    OwnerPrivacy,
    ShareLink,
)
from privacy.sharing import link_state

# (session, conversation ids) -> {conversation id: why its evidence must be kept}
HoldCheck = Callable[[Session, list[int]], dict[int, str]]
# (session, user) -> JSON-ready data about the user that another package holds
DataSection = Callable[[Session, User], Any]

HOLDS = "vigil.privacy.holds"
SECTIONS = "vigil.privacy.sections"


def add_hold_check(app: Flask, check: HoldCheck) -> None:
    """Register a check that names conversations whose evidence an erasure must keep."""
    app.extensions.setdefault(HOLDS, []).append(check)


def add_data_section(app: Flask, name: str, provider: DataSection) -> None:
    """Register a section of the personal-data download."""
    app.extensions.setdefault(SECTIONS, {})[name] = provider


def _registered(key: str, empty):
    return current_app.extensions.get(key, empty) if has_app_context() else empty


class RightsError(ValueError):
    """A request Vigil cannot carry out as asked (the message says why and what to do)."""


@dataclass
class Erasure:
    """What an erasure did: how many conversations, and what was kept under legal hold."""

    conversations: int = 0
    held: dict[int, str] = field(default_factory=dict)

    def as_json(self, refs: dict[int, str]) -> dict:
        return {
            "conversations_erased": self.conversations,
            "kept_under_legal_hold": [
                {"conversation": refs.get(cid, str(cid)), "reason": reason}
                for cid, reason in sorted(self.held.items())
            ],
        }


def holds_for(session: Session, conversation_ids: list[int]) -> dict[int, str]:
    """Why each of these conversations' evidence must outlive an erasure (none: no entry)."""
    held: dict[int, str] = {}
    for check in _registered(HOLDS, []):
        for conversation_id, reason in check(session, conversation_ids).items():
            held.setdefault(conversation_id, reason)
    return held


def erase_conversations(session: Session, conversations: list[Conversation]) -> Erasure:
    """Erase conversations everywhere Vigil holds them for the owner (caller commits).

    Messages and feedback are deleted, share links emptied and revoked (they answer 410),
    and the row keeps no title; the row
    itself stays, emptied and marked deleted, so report cases keep their reference.
    Evidence frozen for a report is another package's and stays under legal hold; the
    result says which conversations and why.
    """
    ids = [c.id for c in conversations if c.deleted_at is None]
    result = Erasure(held=holds_for(session, ids) if ids else {})
    if not ids:
        return result
    now = utcnow()
    for model in (Message, Feedback):
        session.execute(delete(model).where(col(model.conversation_id).in_(ids)))
    # Links stay as empty, revoked rows, so whoever holds one learns it is gone (410).
    session.execute(
        update(ShareLink)
        .where(col(ShareLink.conversation_id).in_(ids))
        .values(snapshot="", message_count=0, shown_name="", revoked_at=now)
    )
    for conversation in conversations:
        if conversation.id in ids:
            conversation.title, conversation.deleted_at, conversation.updated_at = "", now, now
            session.add(conversation)
    session.flush()
    result.conversations = len(ids)
    return result


def _erase_privacy(session: Session, owner: Owner) -> None:
    session.execute(delete(ConsentChange).where(owner.where(ConsentChange)))
    session.execute(delete(OwnerPrivacy).where(owner.where(OwnerPrivacy)))


def delete_account(session: Session, user: User) -> Erasure:
    """Erase an end user's account and everything Vigil holds for them (caller commits).

    Staff accounts are refused: their actions are on the record and an administrator
    closes them. Reports the person filed stay (a notice is the notifier's statement to
    the platform) but no longer name them: the account keeps no name or email.
    """
    if is_staff(session, user):
        raise RightsError(
            "Staff accounts are closed by an administrator, so that their work stays "
            "accountable. Ask an administrator."
        )
    own = list(session.exec(select(Conversation).where(Conversation.owner_id == user.id)))
    result = erase_conversations(session, own)
    _erase_privacy(session, Owner(user_id=user.id))
    session.execute(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user.id))
    record_event(
        session,
        event_type=EventType.ACCOUNT_DELETED,
        # The journal must not keep the name and email the erasure removes.
        actor=SimpleNamespace(id=user.id, label=f"account {user.id} (its owner)"),
        target_type="user",
        target_id=user.id,
        target_label=f"account {user.id}",
        reason="deleted at the owner's request",
        after={"conversations_erased": result.conversations, "held": len(result.held)},
    )
    user.email = f"deleted-{user.id}-{secrets.token_hex(4)}@deleted.invalid"
    user.display_name = "Deleted account"
    user.password_hash = "!"  # noqa: S105 (not a hash: matches no password)
    user.totp_secret, user.mfa_enrolled_at = None, None
    user.status = AccountStatus.DELETED
    rotate_sessions(user)
    session.add(user)
    session.flush()
    return result


def erase_owner(session: Session, owner_ref: str) -> tuple[Erasure, dict[int, str]]:
    """The chat backend's erasure of one pseudonymous owner: conversations and consent.

    Returns the erasure and each conversation's id as the chat backend knows it."""
    own = list(session.exec(select(Conversation).where(Conversation.owner_ref == owner_ref)))
    result = erase_conversations(session, own)
    _erase_privacy(session, Owner(owner_ref=owner_ref))
    return result, {c.id: c.external_id or c.public_ref for c in own}


def _iso(value) -> str | None:
    return as_utc(value).isoformat() if value is not None else None


def _conversation_data(session: Session, conversation: Conversation) -> dict:
    messages = session.exec(
        select(Message)
        .where(Message.conversation_id == conversation.id)
        .order_by(col(Message.position))
    )
    return {
        "reference": conversation.public_ref,
        "title": conversation.title,
        "product": conversation.product.value,
        "model_id": conversation.model_id,
        "language": conversation.language,
        "created_at": _iso(conversation.created_at),
        "updated_at": _iso(conversation.updated_at),
        "messages": [
            {
                "id": m.external_id,
                "role": m.role.value,
                "text": m.text,
                "created_at": _iso(m.created_at),
                "attachment": (
                    {
                        "name": m.attachment_name,
                        "media_type": m.attachment_media_type,
                        "size": m.attachment_size,
                        "sha256": m.attachment_sha256,
                    }
                    if m.attachment_name
                    else None
                ),
            }
            for m in messages
        ],
    }


def export_user_data(session: Session, user: User) -> dict:
    """Everything Vigil holds for this account, as one JSON-ready document."""
    owner = Owner(user_id=user.id)
    row = privacy_of(session, owner)
    conversations = list(
        session.exec(
            select(Conversation)
            .where(Conversation.owner_id == user.id, col(Conversation.deleted_at).is_(None))
            .order_by(col(Conversation.id))
        )
    )
    refs = {c.id: c.public_ref for c in conversations}
    ids = list(refs)
    links = session.exec(select(ShareLink).where(col(ShareLink.conversation_id).in_(ids)))
    feedback = session.exec(select(Feedback).where(col(Feedback.conversation_id).in_(ids)))
    document = {
        "exported_at": _iso(utcnow()),
        "account": {
            "email": user.email,
            "display_name": user.display_name,
            "created_at": _iso(user.created_at),
            "second_factor_enrolled": user.mfa_enrolled_at is not None,
        },
        "privacy": {
            "plan": row.plan.value if row and row.plan else None,
            "training_opt_out": bool(row and row.training_opt_out),
            "what_this_means": explain(row),
            "feedback_disclosure_shown_at": _iso(row.feedback_disclosed_at) if row else None,
        },
        "consent_history": [
            {
                "changed_at": _iso(change.changed_at),
                "source": change.source.value,
                "by": change.actor,
                "old_plan": change.old_plan,
                "new_plan": change.new_plan,
                "old_training_opt_out": change.old_opt_out,
                "new_training_opt_out": change.new_opt_out,
            }
            for change in consent_history(session, owner)
        ],
        "conversations": [_conversation_data(session, c) for c in conversations],
        "share_links": [
            {
                "conversation": refs[link.conversation_id],
                "created_at": _iso(link.created_at),
                "expires_at": _iso(link.expires_at),
                "revoked_at": _iso(link.revoked_at),
                "state": link_state(link),
                "shows_name": bool(link.shown_name),
                "messages_shared": link.message_count,
                "opens": link.opens,
            }
            for link in links
        ],
        "feedback": [
            {
                "conversation": refs[item.conversation_id],
                "message": item.message_external_id,
                "rating": item.rating.value,
                "comment": item.comment,
                "given_at": _iso(item.created_at),
            }
            for item in feedback
        ],
    }
    for name, provider in _registered(SECTIONS, {}).items():
        document[name] = provider(session, user)
    return document
