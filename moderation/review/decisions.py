"""Verbs a claimer performs on a case: decide, escalate, write a note."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlmodel import Session, col, select

from access_control.models import User
from access_control.permissions import Queue
from moderation.intake import taxonomy
from moderation.intake.models import Case, CaseState, Report, ReportStatus
from moderation.review import claims
from moderation.review.claims import ClaimConflict
from moderation.review.models import CaseClaim, CaseDecision, Outcome, TimelineKind
from moderation.review.timeline import record

ESCALATION_TARGETS = {"specialist": Queue.ESCALATIONS, "legal": Queue.LEGAL}


class ReviewInputError(ClaimConflict):
    """Bad input on a claimed case (shown like a conflict: nothing changed)."""


def _hand_back(
    session: Session, *, case: Case, reviewer: User, kind: TimelineKind, detail: str
) -> None:
    """End the claim and say on the timeline why (a decision or an escalation)."""
    session.execute(delete(CaseClaim).where(col(CaseClaim.case_id) == case.id))
    record(session, case_id=case.id, kind=kind, actor=reviewer, detail=detail)


def decide_case(
    session: Session,
    *,
    case: Case,
    reviewer: User,
    token: str,
    outcome: str,
    labels: list[str],
    now: datetime,
) -> CaseDecision:
    """Record the decision and labels, close the case and end the claim."""
    claims.require_claim(session, case_id=case.id, reviewer=reviewer, token=token, now=now)
    if outcome not in Outcome.__members__.values():
        raise ReviewInputError("Choose an outcome.")
    for label in labels:
        try:
            taxonomy.category(label)
        except KeyError as exc:
            raise ReviewInputError(f"Unknown label {label!r}.") from exc
    decision = CaseDecision(
        case_id=case.id,
        reviewer_id=reviewer.id,
        outcome=Outcome(outcome),
        labels=",".join(sorted(set(labels))),
        decided_at=now,
    )
    session.add(decision)
    case.state, case.closed_at = CaseState.CLOSED, now
    session.add(case)
    for report in session.exec(select(Report).where(Report.case_id == case.id)):
        report.status = ReportStatus.CLOSED
        session.add(report)
    _hand_back(
        session,
        case=case,
        reviewer=reviewer,
        kind=TimelineKind.DECIDED,
        detail=f"{outcome}; labels: {decision.labels or 'none'}",
    )
    return decision


def escalate_case(
    session: Session,
    *,
    case: Case,
    reviewer: User,
    token: str,
    target: str,
    note: str,
    now: datetime,
) -> Case:
    """Move the case to the escalations queue with a note; the claim ends."""
    claims.require_claim(session, case_id=case.id, reviewer=reviewer, token=token, now=now)
    if target not in ESCALATION_TARGETS or not note.strip() or len(note) > 1000:
        raise ReviewInputError("Choose specialist or legal and write a note (1,000 characters).")
    case.queue = ESCALATION_TARGETS[target]
    session.add(case)
    _hand_back(
        session,
        case=case,
        reviewer=reviewer,
        kind=TimelineKind.ESCALATED,
        detail=f"to {target}: {note.strip()[:1000]}",
    )
    return case


def add_note(
    session: Session, *, case: Case, reviewer: User, token: str, text: str, now: datetime
) -> None:
    """An internal note on the timeline (claimer only)."""
    claims.require_claim(session, case_id=case.id, reviewer=reviewer, token=token, now=now)
    text = text.strip()
    if not text or len(text) > 4000:
        raise ReviewInputError("A note has 1 to 4,000 characters.")
    record(session, case_id=case.id, kind=TimelineKind.NOTE, actor=reviewer, detail=text)
