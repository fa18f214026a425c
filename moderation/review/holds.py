"""Legal holds: evidence that retention must not purge, placed and lifted by legal (or by a
final illegal-content decision), each on the case timeline and in the security journal."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_
from sqlmodel import Session, col, select

from access_control.journal import EventType
from access_control.models import User
from core.timeutil import as_utc
from moderation.intake.models import Case
from moderation.review.models import HoldSource, LegalHold, TimelineKind
from moderation.review.timeline import record, record_journaled

MAX_REASON = 500


class HoldError(ValueError):
    """Bad input for a hold (shown inline; nothing changed)."""


def active_holds(session: Session, *, case_id: int, now: datetime) -> list[LegalHold]:
    """Holds on a case that are neither lifted nor past their end."""
    return list(
        session.exec(
            select(LegalHold)
            .where(LegalHold.case_id == case_id, col(LegalHold.lifted_at).is_(None))
            .where(or_(col(LegalHold.until).is_(None), col(LegalHold.until) > now))
            .order_by(col(LegalHold.id))
        )
    )


def holds_of(session: Session, *, case_id: int) -> list[LegalHold]:
    """Every hold on a case, lifted ones included (the case page's history)."""
    query = select(LegalHold).where(LegalHold.case_id == case_id).order_by(col(LegalHold.id))
    return list(session.exec(query))


def place_hold(
    session: Session,
    *,
    case: Case,
    actor: User | None,
    source: HoldSource,
    reason: str,
    until: datetime | None,
    now: datetime,
) -> LegalHold:
    """Hold the case's evidence (caller commits). `actor` None: a decision placed it."""
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON:
        raise HoldError(f"Say why the evidence is held (1 to {MAX_REASON} characters).")
    if until is not None and as_utc(until) <= now:
        raise HoldError("A hold ends after today, or has no end.")
    hold = LegalHold(
        case_id=case.id,
        source=source,
        reason=reason,
        placed_by=actor.label if actor is not None else "system",
        placed_at=now,
        until=until,
        lifted_by="",
        lift_reason="",
    )
    session.add(hold)
    detail = f"{source}: {reason}; until {until.date() if until else 'lifted'}"
    if actor is None:
        record(session, case_id=case.id, kind=TimelineKind.HOLD_PLACED, actor=None, detail=detail)
    else:
        record_journaled(
            session,
            case=case,
            kind=TimelineKind.HOLD_PLACED,
            event_type=EventType.LEGAL_HOLD_PLACED,
            actor=actor,
            detail=detail,
            reason=reason,
            after={"until": until.isoformat() if until else None},
        )
    return hold


def lift_hold(
    session: Session,
    *,
    case: Case,
    hold_id: int,
    actor: User | None,
    reason: str,
    now: datetime,
    allow_quarantine: bool = False,
) -> LegalHold:
    """Lift one active hold (caller commits); HoldError if it is not active on this case.

    A quarantine hold (its minimum set by law for child sexual abuse material) is lifted
    only when an appeal overturns the decision that placed it (`allow_quarantine`).
    """
    hold = session.get(LegalHold, hold_id, with_for_update=True)
    reason = reason.strip()
    if hold is None or hold.case_id != case.id or hold.lifted_at is not None:
        raise HoldError("That hold is not active on this case.")
    if hold.source == HoldSource.QUARANTINE and not allow_quarantine:
        raise HoldError(
            "A quarantine hold ends with its period, or when an appeal overturns the decision."
        )
    if not reason or len(reason) > MAX_REASON:
        raise HoldError(f"Say why the hold is lifted (1 to {MAX_REASON} characters).")
    hold.lifted_at, hold.lift_reason = now, reason
    hold.lifted_by = actor.label if actor is not None else "system"
    session.add(hold)
    detail = f"{hold.source} hold lifted: {reason}"
    if actor is None:
        record(session, case_id=case.id, kind=TimelineKind.HOLD_LIFTED, actor=None, detail=detail)
    else:
        record_journaled(
            session,
            case=case,
            kind=TimelineKind.HOLD_LIFTED,
            event_type=EventType.LEGAL_HOLD_LIFTED,
            actor=actor,
            detail=detail,
            reason=reason,
        )
    return hold
