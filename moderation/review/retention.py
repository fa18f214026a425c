"""Retention: evidence whose time is up is crypto-shredded (its data key destroyed), unless a
legal hold or an open appeal window keeps it; every purge is recorded."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from access_control.journal import EventType
from core.timeutil import as_utc
from moderation.intake.models import Case, CaseKey, CaseState, EvidenceVersion, Report
from moderation.review.decisions import latest_decision
from moderation.review.holds import active_holds
from moderation.review.models import FREE_TEXT_KINDS, Appeal, CaseEvent, TimelineKind
from moderation.review.rules import ReviewRules
from moderation.review.timeline import record_journaled


def purge_due(session: Session, *, case: Case, now: datetime, rules: ReviewRules) -> datetime:
    """When the case's evidence may go: its retention after closing, and not before the
    appeal window of its final decision has closed."""
    due = as_utc(case.closed_at) + timedelta(days=rules.retention_days(case.category))
    decision = latest_decision(session, case_id=case.id, final=True)
    if decision is not None:
        due = max(due, as_utc(decision.decided_at) + rules.appeal_window)
    return due


def expired_cases(session: Session, *, now: datetime, rules: ReviewRules) -> list[Case]:
    """Closed, unpurged cases past their purge date and under no active hold."""
    shortest = min([rules.retention_default, *rules.retention.values()])
    candidates = session.exec(
        select(Case)
        .where(Case.state == CaseState.CLOSED, col(Case.purged_at).is_(None))
        .where(col(Case.closed_at) <= now - timedelta(days=shortest))
        .order_by(col(Case.id))
    ).all()
    return [
        case
        for case in candidates
        if purge_due(session, case=case, now=now, rules=rules) <= now
        and not active_holds(session, case_id=case.id, now=now)
    ]


def purge_case(session: Session, *, case: Case, now: datetime) -> None:
    """Destroy the case's data key (crypto-shredding) and the sealed copies it opened."""
    session.execute(delete(CaseKey).where(col(CaseKey.case_id) == case.id))
    # Belt and braces: the blobs are unreadable without the key; blank them too.
    session.execute(
        update(EvidenceVersion).where(col(EvidenceVersion.case_id) == case.id).values(sealed=b"")
    )
    session.execute(
        update(Report).where(col(Report.case_id) == case.id).values(statement_sealed=None)
    )
    session.execute(update(Appeal).where(col(Appeal.case_id) == case.id).values(statement=""))
    # Typed timeline text may quote content too (the table lets a purge blank only that).
    session.execute(
        update(CaseEvent)
        .where(col(CaseEvent.case_id) == case.id, col(CaseEvent.kind).in_(FREE_TEXT_KINDS))
        .values(detail="")
    )
    case.purged_at = now
    session.add(case)
    record_journaled(
        session,
        case=case,
        kind=TimelineKind.PURGED,
        event_type=EventType.EVIDENCE_PURGED,
        actor=None,
        detail="retention ended: data key destroyed, evidence unreadable",
        reason="retention period ended",
    )


def purge_expired(session: Session, *, now: datetime, rules: ReviewRules) -> list[str]:
    """Purge every expired case (caller commits); the purged case references."""
    purged = []
    for case in expired_cases(session, now=now, rules=rules):
        purge_case(session, case=case, now=now)
        purged.append(case.ref)
    return purged
