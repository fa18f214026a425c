"""Need-to-know: the case facts the policy reads, and the checks the policy cannot make
(a note for some reasons, the distinct-viewer cap, looks only a break-glass grant allows)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from access_control.models import User
from access_control.permissions import Resource
from audit.models import AccessEntry
from audit.reasons import Decision, ReasonCode
from core.timeutil import as_utc
from moderation.intake.models import Case
from moderation.review.claims import live_claim
from moderation.review.models import BreakGlassGrant, GrantState

NOTE_REQUIRED = frozenset(ReasonCode) - {ReasonCode.ASSIGNED_REVIEW, ReasonCode.BREAK_GLASS}


class AccessRefused(Exception):
    """Access is refused; `why` is safe to show the reviewer."""

    def __init__(self, why: str, *, offer_break_glass: bool = False) -> None:
        super().__init__(why)
        self.why = why
        self.offer_break_glass = offer_break_glass


def active_grants(session: Session, *, case_id: int, now: datetime) -> list[BreakGlassGrant]:
    """Approved, unexpired break-glass grants on a case."""
    grants = session.exec(
        select(BreakGlassGrant).where(
            BreakGlassGrant.case_id == case_id, BreakGlassGrant.state == GrantState.APPROVED
        )
    ).all()
    return [g for g in grants if g.expires_at and as_utc(g.expires_at) > now]


def content_resource(session: Session, *, case: Case, now: datetime) -> Resource:
    """The case's content with its facts (claimer, break-glass holders), read fresh."""
    claim = live_claim(session, case_id=case.id, now=now)
    grants = active_grants(session, case_id=case.id, now=now)
    return Resource(
        kind="content",
        assignee=f"user:{claim.reviewer_id}" if claim else "",
        break_glass=tuple(sorted({f"user:{g.requester_id}" for g in grants})),
    )


def distinct_viewers(session: Session, *, case_id: int) -> set[int]:
    """Staff who were allowed to see this case's content so far."""
    rows = session.exec(
        select(AccessEntry.actor_id)
        .distinct()
        .where(AccessEntry.case_id == str(case_id), AccessEntry.decision == Decision.ALLOWED.value)
    ).all()
    return {row for row in rows if row is not None}


def reason_problem(reason: ReasonCode, note: str, *, holds_grant: bool) -> AccessRefused | None:
    """What is wrong with the reason asked for, whatever the policy says (None: nothing)."""
    if reason in NOTE_REQUIRED and not note.strip():
        return AccessRefused("This reason needs a note saying why.")
    if reason == ReasonCode.BREAK_GLASS and not holds_grant:
        return AccessRefused(
            "You hold no approved break-glass grant for this case.", offer_break_glass=True
        )
    return None


def reason_for_look(
    session: Session,
    *,
    user: User,
    case: Case,
    content: Resource,
    reason: ReasonCode,
    note: str,
    viewer_cap: int,
) -> ReasonCode:
    """The reason to log for a look the policy allowed, or AccessRefused (note, cap, grant).

    `content` is the Resource the policy decided on (see guard.guarded_resource). A look
    that only a break-glass grant makes possible (not the claimer, or past the
    distinct-viewer cap) is always logged as BREAK_GLASS, whatever reason was asked.
    """
    holds_grant = user.subject in content.break_glass
    if problem := reason_problem(reason, note, holds_grant=holds_grant):
        raise problem
    if content.assignee != user.subject:
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
