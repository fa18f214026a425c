"""Four-eyes on power: an admin's grant of a staff role is a request that takes effect only
when a second admin approves it; the requester and the grantee cannot approve, and pending
requests expire. The operator's command line grants directly (it is the host's owner)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from access_control.accounts import AccountError, check_grant, grant_role
from access_control.journal import EventType, record_event
from access_control.models import RequestState, RoleRequest, User
from access_control.policy import offered_roles, roles_of
from core.timeutil import as_utc


def _journal(session, event_type, *, actor, request: RoleRequest, user: User, reason: str):
    record_event(
        session,
        event_type=event_type,
        actor=actor,
        target_type="account",
        target_id=user.id or "",
        target_label=f"{user.label} as {request.role}",
        reason=reason,
        after={"role": request.role, "request": request.id},
    )


def pending_requests(session: Session, *, now: datetime, user_id: int | None = None):
    """Live requests (expired ones are marked and journaled on the way)."""
    query = select(RoleRequest).where(RoleRequest.state == RequestState.PENDING)
    if user_id is not None:
        query = query.where(RoleRequest.user_id == user_id)
    live = []
    for request in session.exec(query.order_by(col(RoleRequest.id))).all():
        if as_utc(request.expires_at) <= now:
            request.state = RequestState.EXPIRED
            session.add(request)
            user = session.get(User, request.user_id)
            _journal(
                session,
                EventType.ROLE_REQUEST_EXPIRED,
                actor=None,
                request=request,
                user=user,
                reason="nobody approved it in time",
            )
        else:
            live.append(request)
    return live


def request_role(
    session: Session,
    *,
    actor: User,
    user: User,
    role: str,
    reason: str,
    lifetime: timedelta,
    now: datetime,
    authorize,
) -> RoleRequest:
    """Ask for a role for someone; nothing changes until a second admin approves."""
    check_grant(actor, user, role, authorize)
    if role not in offered_roles(session):
        raise AccountError(f"{role} grants nothing: the policy has no rows for it.")
    if role in roles_of(session, user):
        raise AccountError(f"{user.email} already holds {role}.", 409)
    if any(r.role == role for r in pending_requests(session, now=now, user_id=user.id)):
        raise AccountError(f"A request for {role} is already waiting for approval.", 409)
    request = RoleRequest(
        user_id=user.id,
        role=role,
        reason=reason,
        requested_by=actor.id,
        requested_by_label=actor.label,
        requested_at=now,
        expires_at=now + lifetime,
    )
    session.add(request)
    session.flush()
    _journal(
        session, EventType.ROLE_REQUESTED, actor=actor, request=request, user=user, reason=reason
    )
    return request


def _live(session: Session, request_id: int, now: datetime) -> RoleRequest:
    request = session.get(RoleRequest, request_id, with_for_update=True)
    if request is None or request.state != RequestState.PENDING:
        raise AccountError("That request is not waiting for approval.", 409)
    if as_utc(request.expires_at) <= now:
        pending_requests(session, now=now, user_id=request.user_id)  # marks it expired
        raise AccountError("That request expired; ask again.", 409)
    return request


def approve_request(
    session: Session, *, actor: User, request_id: int, now: datetime, authorize
) -> RoleRequest:
    """A second admin approves: the grant happens now, through the policy service."""
    request = _live(session, request_id, now)
    user = session.get(User, request.user_id)
    if actor.id == request.requested_by:
        raise AccountError("The admin who asked cannot approve; a second admin must.", 403)
    if actor.id == user.id:
        raise AccountError("Nobody can approve a role for themselves.", 403)
    grant_role(
        session,
        actor=actor,
        user=user,
        role=request.role,
        reason=request.reason,
        authorize=authorize,
        approved=True,
    )
    request.state, request.decided_at = RequestState.APPROVED, now
    request.decided_by, request.decided_by_label = actor.id, actor.label
    session.add(request)
    _journal(
        session,
        EventType.ROLE_REQUEST_APPROVED,
        actor=actor,
        request=request,
        user=user,
        reason=f"requested by {request.requested_by_label}: {request.reason}",
    )
    return request


def refuse_request(
    session: Session, *, actor: User, request_id: int, reason: str, now: datetime, authorize
) -> RoleRequest:
    """A second admin refuses (with a reason); the requester may withdraw their own."""
    request = _live(session, request_id, now)
    user = session.get(User, request.user_id)
    check_grant(actor, user, request.role, authorize)
    reason = reason.strip()
    if not reason or len(reason) > 500:
        raise AccountError("Say why (1 to 500 characters).")
    request.state, request.decided_at = RequestState.REFUSED, now
    request.decided_by, request.decided_by_label = actor.id, actor.label
    request.decision_reason = reason
    session.add(request)
    _journal(
        session,
        EventType.ROLE_REQUEST_REFUSED,
        actor=actor,
        request=request,
        user=user,
        reason=reason,
    )
    return request
