"""Claims: atomic compare-and-set on a per-case row, with a lease and a lock token."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, true, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from access_control.journal import EventType
from access_control.models import User
from core.timeutil import as_utc
from moderation.intake.models import Case, CaseState
from moderation.review.models import CaseClaim, TimelineKind
from moderation.review.timeline import record, record_journaled


class ClaimConflict(Exception):
    """The claim is gone, expired or someone else's: the caller answers 409."""


def live_claim(
    session: Session, *, case_id: int, now: datetime, lock: bool = False
) -> CaseClaim | None:
    """The unexpired claim on a case, if any; `lock` holds its row to the end of the
    transaction, so a reassignment or a reclaim cannot slip in between check and write."""
    claim = session.get(CaseClaim, case_id, populate_existing=True, with_for_update=lock)
    return still_live(claim, now=now)


def still_live(claim: CaseClaim | None, *, now: datetime) -> CaseClaim | None:
    """The claim if its lease has not run out at `now`, else None."""
    if claim is None or as_utc(claim.lease_until) <= now:
        return None
    return claim


def _take(session: Session, *, case_id: int, reviewer: User, lease: timedelta, now: datetime):
    token = secrets.token_urlsafe(24)
    values = {
        "reviewer_id": reviewer.id,
        "token": token,
        "claimed_at": now,
        "lease_until": now + lease,
    }
    # An expired claim is taken over only if it is still expired (compare-and-set).
    taken = session.execute(
        update(CaseClaim)
        .where(col(CaseClaim.case_id) == case_id, col(CaseClaim.lease_until) <= now)
        .values(**values)
    )
    if taken.rowcount != 1:
        try:
            with session.begin_nested():  # the primary key lets exactly one insert win
                session.add(CaseClaim(case_id=case_id, **values))
        except IntegrityError:
            return None
    record(session, case_id=case_id, kind=TimelineKind.CLAIMED, actor=reviewer)
    return session.get(CaseClaim, case_id, populate_existing=True)


def claim_case(
    session: Session, *, case_id: int, reviewer: User, lease: timedelta, now: datetime
) -> CaseClaim | None:
    """Claim one given case if it is free (demo data, tests); None if someone holds it."""
    return _take(session, case_id=case_id, reviewer=reviewer, lease=lease, now=now)


def claims_of(session: Session, *, reviewer: User, now: datetime) -> list[tuple[CaseClaim, Case]]:
    """The reviewer's live claims with their cases, soonest lease end first."""
    query = (
        select(CaseClaim, Case)
        .join(Case, col(Case.id) == col(CaseClaim.case_id))
        .where(CaseClaim.reviewer_id == reviewer.id, col(CaseClaim.lease_until) > now)
        .order_by(col(CaseClaim.lease_until))
    )
    return [(claim, case) for claim, case in session.exec(query)]


def release_all(session: Session, *, reviewer: User, now: datetime, keep: int = 0) -> None:
    """Return the reviewer's live claims to their queues, but `keep` (one case at a time)."""
    mine = session.exec(select(CaseClaim).where(CaseClaim.reviewer_id == reviewer.id)).all()
    for claim in (c for c in mine if c.case_id != keep):
        if as_utc(claim.lease_until) > now:
            record(session, case_id=claim.case_id, kind=TimelineKind.RELEASED, actor=reviewer)
        session.delete(claim)
    session.flush()


def claim_next(
    session: Session,
    *,
    reviewer: User,
    queues: list[str],
    lease: timedelta,
    now: datetime,
    skip: int | None = None,
    language: str = "",
    may_take: Callable[[int], bool] = lambda case_id: True,
) -> CaseClaim | None:
    """Claim the highest-priority unclaimed open case in these queues; None if none is left.

    The reviewer's current claim goes back to its queue once a new one is taken (one case
    at a time; when nothing matches, the current claim stays). `skip` keeps the case they
    are leaving from coming straight back to them, `language` (a primary subtag) limits
    the choice to cases the reviewer can read, and `may_take` asks the policy about each
    candidate's facts (four-eyes, appeals).
    """
    if not queues:
        return None
    refused: set[int] = {skip or 0}
    for _ in range(5):
        candidates = session.exec(
            select(Case.id)
            .outerjoin(CaseClaim, col(CaseClaim.case_id) == col(Case.id))
            .where(Case.state == CaseState.OPEN, col(Case.queue).in_(queues))
            .where(or_(col(CaseClaim.case_id).is_(None), col(CaseClaim.lease_until) <= now))
            .where(col(Case.id).not_in(refused))
            .where(col(Case.language) == language if language else true())
            .order_by(col(Case.priority).desc(), col(Case.first_reported_at), col(Case.id))
            .limit(8)
        ).all()
        if not candidates:
            return None
        for case_id in candidates:
            if not may_take(case_id):
                refused.add(case_id)
                continue
            claim = _take(session, case_id=case_id, reviewer=reviewer, lease=lease, now=now)
            if claim is not None:
                release_all(session, reviewer=reviewer, now=now, keep=case_id)
                return claim
    return None


def require_claim(
    session: Session, *, case_id: int, reviewer: User, token: str, now: datetime
) -> CaseClaim:
    """The reviewer's live claim matching `token` (row locked), or ClaimConflict."""
    claim = live_claim(session, case_id=case_id, now=now, lock=True)
    if (
        claim is None
        or claim.reviewer_id != reviewer.id
        or not secrets.compare_digest(claim.token, token or "")
    ):
        raise ClaimConflict("This case is no longer claimed by you. Claim it again.")
    return claim


def renew(
    session: Session, *, case_id: int, reviewer: User, token: str, lease: timedelta, now: datetime
) -> CaseClaim:
    """Extend the lease while the reviewer works."""
    claim = require_claim(session, case_id=case_id, reviewer=reviewer, token=token, now=now)
    claim.lease_until = now + lease
    session.add(claim)
    return claim


def release(session: Session, *, case_id: int, reviewer: User, token: str, now: datetime) -> None:
    """Give the case back to its queue."""
    require_claim(session, case_id=case_id, reviewer=reviewer, token=token, now=now)
    session.execute(delete(CaseClaim).where(col(CaseClaim.case_id) == case_id))
    record(session, case_id=case_id, kind=TimelineKind.RELEASED, actor=reviewer)


def reassign(
    session: Session,
    *,
    actor: User,
    case: Case,
    to: User,
    lease: timedelta,
    now: datetime,
    reason: str,
) -> CaseClaim:
    """Move a case's claim to another reviewer (admin; journaled on the timeline and audit)."""
    # Wait out a decision in flight (it holds the claim row), then look at the case afresh.
    session.get(CaseClaim, case.id, with_for_update=True, populate_existing=True)
    session.refresh(case)
    if case.state != CaseState.OPEN:
        raise ClaimConflict("This case was closed meanwhile.")
    session.execute(delete(CaseClaim).where(col(CaseClaim.case_id) == case.id))
    claim = CaseClaim(
        case_id=case.id,
        reviewer_id=to.id,
        token=secrets.token_urlsafe(24),
        claimed_at=now,
        lease_until=now + lease,
    )
    session.add(claim)
    record_journaled(
        session,
        case=case,
        kind=TimelineKind.REASSIGNED,
        event_type=EventType.CASE_REASSIGNED,
        actor=actor,
        detail=f"to {to.display_name}: {reason}",
        reason=reason,
        after={"reviewer": to.label},
    )
    session.flush()
    return claim
