"""Break-glass: emergency access to one case, requested with a reason, approved by someone
else, expiring on its own (the grant shows up in the case facts, see review.access)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from access_control.journal import EventType
from access_control.models import User
from access_control.permissions import Resource
from moderation.intake.models import Case
from moderation.review.access import AccessRefused
from moderation.review.models import BreakGlassGrant, GrantState, TimelineKind
from moderation.review.timeline import record_journaled


def sealed_reason(grant: BreakGlassGrant) -> str:
    """What the journal says instead of the typed reason, which may quote content: the
    reason stays sealed on the grant (and on the timeline), out of auditors' sight."""
    return f"reason sealed with break-glass grant {grant.id}"


def request_break_glass(
    session: Session, *, user: User, case: Case, reason: str
) -> BreakGlassGrant:
    """Ask for emergency access to one case, with a reason."""
    reason = reason.strip()
    if not reason or len(reason) > 1000:
        raise AccessRefused("Say why you need access (at most 1,000 characters).")
    mine = latest_request(session, user=user, case=case)
    if mine is not None and mine.state == GrantState.PENDING:
        raise AccessRefused("Your request for this case is already waiting for a second person.")
    grant = BreakGlassGrant(case_id=case.id, requester_id=user.id, reason=reason)
    session.add(grant)
    session.flush()
    record_journaled(
        session,
        case=case,
        kind=TimelineKind.BREAK_GLASS_REQUESTED,
        event_type=EventType.BREAK_GLASS_REQUESTED,
        actor=user,
        detail=reason,
        reason=sealed_reason(grant),
    )
    return grant


def approve_break_glass(
    session: Session,
    *,
    approver: User,
    grant: BreakGlassGrant,
    case: Case,
    hours: int,
    authorize,
    now: datetime,
) -> BreakGlassGrant:
    """A different person approves; the grant expires after `hours`."""
    target = Resource(kind="break_glass", owner=f"user:{grant.requester_id}")
    if grant.requester_id == approver.id:
        raise AccessRefused("Nobody can approve their own break-glass request.")
    if not authorize(approver, target, "approve", queue=case.queue):
        raise AccessRefused("You may not approve break-glass requests for this queue.")
    if grant.state != GrantState.PENDING:
        raise AccessRefused("This request was already handled.")
    grant.state, grant.approver_id = GrantState.APPROVED, approver.id
    grant.approved_at, grant.expires_at = now, now + timedelta(hours=hours)
    session.add(grant)
    record_journaled(
        session,
        case=case,
        kind=TimelineKind.BREAK_GLASS_APPROVED,
        event_type=EventType.BREAK_GLASS_APPROVED,
        actor=approver,
        detail=f"for user {grant.requester_id} until {grant.expires_at:%Y-%m-%d %H:%M} UTC",
        reason=sealed_reason(grant),
        after={"grant": grant.id, "requester": grant.requester_id},
    )
    return grant


def refuse_break_glass(
    session: Session,
    *,
    approver: User,
    grant: BreakGlassGrant,
    case: Case,
    reason: str,
    authorize,
) -> BreakGlassGrant:
    """Someone who could approve refuses instead, saying why (the requester reads it)."""
    target = Resource(kind="break_glass", owner=f"user:{grant.requester_id}")
    reason = reason.strip()
    if not authorize(approver, target, "approve", queue=case.queue):
        raise AccessRefused("You may not decide break-glass requests for this queue.")
    if grant.state != GrantState.PENDING:
        raise AccessRefused("This request was already handled.")
    if not reason or len(reason) > 500:
        raise AccessRefused("Say why you refuse (1 to 500 characters).")
    grant.state, grant.approver_id, grant.refusal_reason = GrantState.REFUSED, approver.id, reason
    session.add(grant)
    record_journaled(
        session,
        case=case,
        kind=TimelineKind.BREAK_GLASS_REFUSED,
        event_type=EventType.BREAK_GLASS_REFUSED,
        actor=approver,
        detail=f"for user {grant.requester_id}",
        reason=reason,
        after={"grant": grant.id, "requester": grant.requester_id},
    )
    return grant


def latest_request(session: Session, *, user: User, case: Case) -> BreakGlassGrant | None:
    """The person's newest request for this case (its state is shown to them)."""
    return session.exec(
        select(BreakGlassGrant)
        .where(BreakGlassGrant.case_id == case.id, BreakGlassGrant.requester_id == user.id)
        .order_by(col(BreakGlassGrant.id).desc())
    ).first()


def pending_grants(session: Session) -> list[tuple[BreakGlassGrant, Case, User]]:
    """Requests waiting for a second person, with the case and the requester."""
    query = (
        select(BreakGlassGrant, Case, User)
        .join(Case, col(Case.id) == col(BreakGlassGrant.case_id))
        .join(User, col(User.id) == col(BreakGlassGrant.requester_id))
        .where(BreakGlassGrant.state == GrantState.PENDING)
        .order_by(col(BreakGlassGrant.requested_at))
    )
    return [(grant, case, user) for grant, case, user in session.exec(query)]
