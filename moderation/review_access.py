"""Need-to-know: case facts for the policy, the distinct-viewer cap, break-glass grants."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from access_control.models import User
from access_control.permissions import Resource
from audit.events import record_event
from audit.log_models import AccessEntry
from audit.reasons import Decision, ReasonCode
from core.timeutil import as_utc
from moderation.claims import live_claim, record
from moderation.models import Case
from moderation.review_models import BreakGlassGrant, GrantState, TimelineKind

NOTE_REQUIRED = frozenset(ReasonCode) - {ReasonCode.ASSIGNED_REVIEW, ReasonCode.BREAK_GLASS}


class AccessRefused(Exception):
    """Access is refused; `why` is safe to show the reviewer."""

    def __init__(self, why: str, *, offer_break_glass: bool = False) -> None:
        super().__init__(why)
        self.why = why
        self.offer_break_glass = offer_break_glass


@dataclass(frozen=True)
class Facts:
    """Fresh per-request facts about a case."""

    resource: Resource
    claimer_id: int | None


def active_grants(session: Session, *, case_id: int, now: datetime) -> list[BreakGlassGrant]:
    """Approved, unexpired break-glass grants on a case."""
    grants = session.exec(
        select(BreakGlassGrant).where(
            BreakGlassGrant.case_id == case_id, BreakGlassGrant.state == GrantState.APPROVED.value
        )
    ).all()
    return [g for g in grants if g.expires_at and as_utc(g.expires_at) > now]


def case_facts(session: Session, *, case: Case, now: datetime) -> Facts:
    """Assignee and break-glass holders read from the database now, never cached."""
    claim = live_claim(session, case_id=case.id, now=now)
    grants = active_grants(session, case_id=case.id, now=now)
    resource = Resource(
        kind="content",
        assignee=f"user:{claim.reviewer_id}" if claim else "",
        break_glass=tuple(sorted({f"user:{g.requester_id}" for g in grants})),
    )
    return Facts(resource=resource, claimer_id=claim.reviewer_id if claim else None)


def distinct_viewers(session: Session, *, case_id: int) -> set[int]:
    """Staff who were allowed to see this case's content so far."""
    rows = session.exec(
        select(AccessEntry.actor_id)
        .distinct()
        .where(AccessEntry.case_id == str(case_id), AccessEntry.decision == Decision.ALLOWED.value)
    ).all()
    return {row for row in rows if row is not None}


def check_content_access(
    session: Session,
    *,
    user: User,
    case: Case,
    reason: ReasonCode,
    note: str,
    authorize,
    viewer_cap: int,
    now: datetime,
) -> ReasonCode:
    """The reason to log for this look, or AccessRefused (policy, note, viewer cap).

    A look that only a break-glass grant makes possible (not the claimer, or past the
    distinct-viewer cap) is always logged as BREAK_GLASS, whatever reason was asked.
    """
    if reason in NOTE_REQUIRED and not note.strip():
        raise AccessRefused("This reason needs a note saying why.")
    facts = case_facts(session, case=case, now=now)
    holds_grant = user.subject in facts.resource.break_glass
    if reason == ReasonCode.BREAK_GLASS and not holds_grant:
        raise AccessRefused(
            "You hold no approved break-glass grant for this case.", offer_break_glass=True
        )
    if not authorize(user, facts.resource, "read", queue=case.queue):
        raise AccessRefused(
            "You can see a case's content only while you hold its claim.",
            offer_break_glass=True,
        )
    if facts.claimer_id != user.id:
        return ReasonCode.BREAK_GLASS if holds_grant else reason
    viewers = distinct_viewers(session, case_id=case.id)
    if user.id not in viewers and len(viewers) >= viewer_cap:
        if holds_grant:
            return ReasonCode.BREAK_GLASS
        raise AccessRefused(
            f"{len(viewers)} people have already seen this case; further access needs "
            "break-glass approval.",
            offer_break_glass=True,
        )
    return reason


def request_break_glass(
    session: Session, *, user: User, case: Case, reason: str
) -> BreakGlassGrant:
    """Ask for emergency access to one case, with a reason."""
    reason = reason.strip()
    if not reason or len(reason) > 1000:
        raise AccessRefused("Say why you need access (at most 1,000 characters).")
    grant = BreakGlassGrant(case_id=case.id, requester_id=user.id, reason=reason)
    session.add(grant)
    session.flush()
    record(
        session, case_id=case.id, kind=TimelineKind.BREAK_GLASS_REQUESTED, actor=user, detail=reason
    )
    record_event(
        session,
        event_type="break_glass.requested",
        actor=user,
        target_type="case",
        target_id=case.id,
        target_label=case.ref,
        reason=reason,
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
    if grant.state != GrantState.PENDING.value:
        raise AccessRefused("This request was already handled.")
    grant.state, grant.approver_id = GrantState.APPROVED.value, approver.id
    grant.approved_at, grant.expires_at = now, now + timedelta(hours=hours)
    session.add(grant)
    record(
        session,
        case_id=case.id,
        kind=TimelineKind.BREAK_GLASS_APPROVED,
        actor=approver,
        detail=f"for user {grant.requester_id} until {grant.expires_at:%Y-%m-%d %H:%M} UTC",
    )
    record_event(
        session,
        event_type="break_glass.approved",
        actor=approver,
        target_type="case",
        target_id=case.id,
        target_label=case.ref,
        reason=grant.reason,
        after={"grant": grant.id, "requester": grant.requester_id},
    )
    return grant


def pending_grants(session: Session) -> list[BreakGlassGrant]:
    """Requests waiting for a second person."""
    return list(
        session.exec(
            select(BreakGlassGrant)
            .where(BreakGlassGrant.state == GrantState.PENDING.value)
            .order_by(col(BreakGlassGrant.requested_at))
        )
    )
