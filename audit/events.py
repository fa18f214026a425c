"""Record admin and security events: one registry of event types, one writer."""

from __future__ import annotations

import json
from typing import Any

from flask import g, has_request_context, request
from sqlmodel import Session

from audit.models import AdminEvent

# Every event type is registered here once; recording an unknown type is a bug.
EVENT_TYPES = frozenset(
    {
        "access_log.exported",
        "access_log.note_erased",
        "account.created",
        "account.disabled",
        "account.enabled",
        "account.password_changed",
        "auth.login",
        "break_glass.approved",
        "break_glass.requested",
        "case.reassigned",
        "auth.login_failed",
        "auth.logout",
        "auth.mfa_enrolled",
        "auth.recovery_code_used",
        "auth.recovery_codes_regenerated",
        "keys.signing_rotated",
        "policy.rule_added",
        "policy.rule_removed",
        "role.granted",
        "role.revoked",
        "token.created",
        "token.revoked",
    }
)

SYSTEM_LABEL = "system (command line)"


def record_event(
    session: Session,
    *,
    event_type: str,
    actor: Any | None,
    target_type: str = "",
    target_id: str | int = "",
    target_label: str = "",
    reason: str = "",
    before: Any = None,
    after: Any = None,
) -> AdminEvent:
    """Add an event to the session; it commits with the change it describes."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unregistered event type {event_type!r}")
    event = AdminEvent(
        event_type=event_type,
        actor_id=getattr(actor, "id", None),
        actor_label=actor.label if actor is not None else SYSTEM_LABEL,
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
