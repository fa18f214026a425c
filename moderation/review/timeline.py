"""The case timeline, and the verb that writes a timeline line and its journal entry together."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from access_control.journal import EventType, record_event
from access_control.models import User
from moderation.intake.models import Case
from moderation.review.models import CaseEvent, TimelineKind


def record(
    session: Session, *, case_id: int, kind: TimelineKind, actor: User | None, detail: str = ""
) -> None:
    """Add a line to the case timeline (reviewers see it on the case page)."""
    session.add(
        CaseEvent(
            case_id=case_id,
            kind=kind,
            actor_id=getattr(actor, "id", None),
            actor_label=actor.label if actor is not None else "system",
            detail=detail,
        )
    )


def record_journaled(
    session: Session,
    *,
    case: Case,
    kind: TimelineKind,
    event_type: EventType,
    actor: User,
    detail: str,
    reason: str,
    after: Any = None,
) -> None:
    """A timeline line plus its admin/security journal entry (auditors see the latter)."""
    record(session, case_id=case.id, kind=kind, actor=actor, detail=detail)
    record_event(
        session,
        event_type=event_type,
        actor=actor,
        target_type="case",
        target_id=case.id,
        target_label=case.ref,
        reason=reason,
        after=after,
    )
