"""The admin/security journal: one registry of event types, its table, one writer.

The content access log is separate (audit.access_log); this journal records who changed
accounts, roles, policy, tokens, keys and break-glass, with before/after and a reason.
"""

from __future__ import annotations

import enum
import json
from datetime import datetime
from typing import Any

from flask import g, has_request_context, request
from sqlalchemy import Column, Text
from sqlmodel import Field, Session, SQLModel

from core.columns import enum_column, utc_column
from core.timeutil import utcnow


class EventType(enum.StrEnum):
    """Every journal event type, declared once and kept alphabetical (Sentry's registry)."""

    ACCESS_LOG_EXPORTED = "access_log.exported"
    ACCESS_LOG_NOTE_ERASED = "access_log.note_erased"
    ACCESS_LOG_VERIFY_REQUESTED = "access_log.verify_requested"
    ACCOUNT_CREATED = "account.created"
    ACCOUNT_DELETED = "account.deleted"
    ACCOUNT_DISABLED = "account.disabled"
    ACCOUNT_ENABLED = "account.enabled"
    ACCOUNT_ENROLLED = "account.enrolled"
    ACCOUNT_INVITED = "account.invited"
    ACCOUNT_PASSWORD_CHANGED = "account.password_changed"  # noqa: S105 (an event name)
    ACCOUNT_RESET_APPROVED = "account.reset_approved"
    ACCOUNT_RESET_REFUSED = "account.reset_refused"
    ACCOUNT_RESET_REQUESTED = "account.reset_requested"
    AUTH_LOGIN = "auth.login"
    AUTH_LOGIN_FAILED = "auth.login_failed"
    AUTH_LOGOUT = "auth.logout"
    AUTH_MFA_ENROLLED = "auth.mfa_enrolled"
    AUTH_RECOVERY_CODE_USED = "auth.recovery_code_used"
    AUTH_RECOVERY_CODES_REGENERATED = "auth.recovery_codes_regenerated"
    BREAK_GLASS_APPROVED = "break_glass.approved"
    BREAK_GLASS_REFUSED = "break_glass.refused"
    BREAK_GLASS_REQUESTED = "break_glass.requested"
    CASE_REASSIGNED = "case.reassigned"
    EVIDENCE_PURGED = "evidence.purged"
    KEYS_SIGNING_ROTATED = "keys.signing_rotated"
    LEGAL_HOLD_LIFTED = "legal_hold.lifted"
    LEGAL_HOLD_PLACED = "legal_hold.placed"
    LEGAL_REQUEST_REGISTERED = "legal_request.registered"
    POLICY_CHANGE_DECIDED = "policy.change_decided"
    POLICY_CHANGE_REQUESTED = "policy.change_requested"
    POLICY_RULE_ADDED = "policy.rule_added"
    POLICY_RULE_REMOVED = "policy.rule_removed"
    QA_SAMPLE_DRAWN = "qa_sample.drawn"
    ROLE_GRANTED = "role.granted"
    ROLE_REQUEST_APPROVED = "role.request_approved"
    ROLE_REQUEST_EXPIRED = "role.request_expired"
    ROLE_REQUEST_REFUSED = "role.request_refused"
    ROLE_REQUESTED = "role.requested"
    ROLE_REVOKED = "role.revoked"
    TOKEN_CREATED = "token.created"  # noqa: S105 (an event name)
    TOKEN_REVOKED = "token.revoked"  # noqa: S105 (an event name)
    WEBHOOK_ADDED = "webhook.added"
    WEBHOOK_DISABLED = "webhook.disabled"


class AdminEvent(SQLModel, table=True):
    """Who did what to whom, with before/after and reason; append-only."""

    __tablename__ = "admin_event"

    id: int | None = Field(default=None, primary_key=True)
    occurred_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    event_type: EventType = Field(sa_column=enum_column(EventType, 64, index=True))
    # Who acted: id plus a copied label so the entry survives the account.
    actor_id: int | None = Field(default=None, index=True)
    actor_label: str = Field(max_length=400)
    # What was affected, kept apart from who acted.
    target_type: str = Field(default="", max_length=32)
    target_id: str = Field(default="", max_length=64, index=True)
    target_label: str = Field(default="", max_length=400)
    reason: str = Field(default="", max_length=500)
    before: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    after: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    request_id: str = Field(default="", max_length=64)
    client_address: str = Field(default="", max_length=64)


SYSTEM_LABEL = "system (command line)"


def record_event(
    session: Session,
    *,
    event_type: EventType,
    actor: Any | None,
    target_type: str = "",
    target_id: str | int = "",
    target_label: str = "",
    reason: str = "",
    before: Any = None,
    after: Any = None,
    anonymous: str = SYSTEM_LABEL,
) -> AdminEvent:
    """Add an event to the session; it commits with the change it describes. `anonymous`
    names an actor Vigil does not know (default: the operator's command line)."""
    event = AdminEvent(
        event_type=EventType(event_type),  # an unregistered type is a bug: ValueError
        actor_id=getattr(actor, "id", None),
        actor_label=actor.label if actor is not None else anonymous[:400],
        target_type=target_type,
        target_id=str(target_id),
        target_label=target_label,
        reason=reason[:500],
        before="" if before is None else json.dumps(before, sort_keys=True),
        after="" if after is None else json.dumps(after, sort_keys=True),
    )
    if has_request_context():
        event.request_id = getattr(g, "request_id", "")
        event.client_address = (request.remote_addr or "")[:64]
    session.add(event)
    return event
