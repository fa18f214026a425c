"""Looks outside the claim: QA samples of decided cases (read-only) and legal requests.
Each is a record the policy's `qa_sample` and `legal_request` conditions read, journaled."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from access_control.journal import EventType, record_event
from access_control.models import User
from access_control.permissions import Queue
from moderation.intake import taxonomy
from moderation.intake.models import Case, CaseState
from moderation.review.models import CaseDecision, LegalRequest, QaSample, TimelineKind
from moderation.review.rules import ReviewRules
from moderation.review.timeline import record, record_journaled

MAX_REFERENCE = 100
SPECIALIST_ONLY = tuple(c.key for c in taxonomy.categories() if c.queue == Queue.CHILD_SAFETY)


class OversightError(ValueError):
    """Bad input (shown inline; nothing changed)."""


def draw_sample(session: Session, *, user: User, now: datetime, rules: ReviewRules) -> list[Case]:
    """Draw decided cases at random that this person did not decide (caller commits)."""
    own = select(CaseDecision.case_id).where(CaseDecision.reviewer_id == user.id)
    held = select(QaSample.case_id).where(QaSample.user_id == user.id, QaSample.expires_at > now)
    cases = session.exec(
        select(Case)
        .where(Case.state == CaseState.CLOSED, col(Case.purged_at).is_(None))
        # Child-safety cases are for child-safety specialists, never for generalist QA.
        .where(Case.queue != Queue.CHILD_SAFETY, col(Case.category).not_in(SPECIALIST_ONLY))
        .where(col(Case.id).in_(select(CaseDecision.case_id).where(col(CaseDecision.final))))
        .where(col(Case.id).not_in(own), col(Case.id).not_in(held))
        .order_by(func.random())
        .limit(rules.qa_size)
    ).all()
    for case in cases:
        session.add(
            QaSample(
                case_id=case.id, user_id=user.id, drawn_at=now, expires_at=now + rules.qa_lifetime
            )
        )
        record(session, case_id=case.id, kind=TimelineKind.QA_SAMPLED, actor=user)
    if cases:
        record_event(
            session,
            event_type=EventType.QA_SAMPLE_DRAWN,
            actor=user,
            target_type="case",
            target_label=", ".join(case.ref for case in cases),
            reason="quality assurance sample",
        )
    return list(cases)


def my_samples(session: Session, *, user: User, now: datetime) -> list[tuple[QaSample, Case]]:
    """The QA reviewer's samples that are still open, newest first."""
    query = (
        select(QaSample, Case)
        .join(Case, col(Case.id) == col(QaSample.case_id))
        .where(QaSample.user_id == user.id, QaSample.expires_at > now)
        .order_by(col(QaSample.id).desc())
    )
    return [(sample, case) for sample, case in session.exec(query)]


def register_legal_request(
    session: Session, *, case: Case, user: User, reference: str, now: datetime, rules: ReviewRules
) -> LegalRequest:
    """Record a legal request (a court order, an authority's request) against one case."""
    reference = reference.strip()
    if not reference or len(reference) > MAX_REFERENCE or not reference.isprintable():
        raise OversightError(f"Give the request's reference (1 to {MAX_REFERENCE} characters).")
    request = LegalRequest(
        case_id=case.id,
        user_id=user.id,
        reference=reference,
        created_at=now,
        expires_at=now + rules.legal_request,
    )
    session.add(request)
    record_journaled(
        session,
        case=case,
        kind=TimelineKind.LEGAL_REQUEST,
        event_type=EventType.LEGAL_REQUEST_REGISTERED,
        actor=user,
        detail=f"legal request {reference}",
        reason=reference,
    )
    return request
