"""What a final decision does: the case closes, reporters learn the outcome, share links go
when the action says so, and illegal content is quarantined (training exclusion made
permanent, links taken down with a notice, evidence on legal hold)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from moderation.intake.models import Case, CaseStage, CaseState, Report, ReportStatus
from moderation.review import holds, notifications
from moderation.review.models import (
    CaseDecision,
    Ground,
    HoldSource,
    LegalHold,
    Outcome,
    TimelineKind,
)
from moderation.review.rules import ReviewRules
from moderation.review.timeline import record
from privacy.conversations import exclude_from_training
from privacy.models import ExclusionReason
from privacy.sharing import restore_links_of, revoke_links_of


def set_report_status(session: Session, *, case_id: int, status: ReportStatus) -> None:
    session.execute(update(Report).where(col(Report.case_id) == case_id).values(status=status))


def finalize(
    session: Session, *, case: Case, decision: CaseDecision, now: datetime, rules: ReviewRules
) -> None:
    """Apply a final decision (caller commits; everything happens in one transaction, the
    webhook outbox included, so a decision is never half-applied or half-told)."""
    case.state, case.stage, case.closed_at = CaseState.CLOSED, CaseStage.REVIEW, now
    session.add(case)
    set_report_status(session, case_id=case.id, status=notifications.report_status(decision))
    if decision.outcome == Outcome.DISABLE_SHARE_LINKS:
        revoke_links_of(session, conversation_id=case.conversation_id)
    if decision.ground == Ground.ILLEGAL:
        quarantine(session, case=case, decision=decision, now=now, rules=rules)
    notifications.decision_final(session, case=case, decision=decision, rules=rules)


def quarantine(
    session: Session, *, case: Case, decision: CaseDecision, now: datetime, rules: ReviewRules
) -> None:
    """Illegal content: out of training for good, links down, evidence held."""
    if case.quarantined_at is None:
        case.quarantined_at = now
        session.add(case)
    # Only the id and a coarse reason cross to the training side.
    exclude_from_training(
        session, conversation_id=case.conversation_id, reason=ExclusionReason.QUARANTINED
    )
    taken_down = revoke_links_of(session, conversation_id=case.conversation_id)
    categories = {case.category, *filter(None, decision.labels.split(","))}
    days = max(rules.hold_days(category) for category in categories)
    until = now + timedelta(days=days)
    holds.place_hold(
        session,
        case=case,
        actor=None,
        source=HoldSource.QUARANTINE,
        reason=f"final illegal-content decision ({', '.join(sorted(categories))})",
        until=until,
        now=now,
    )
    record(
        session,
        case_id=case.id,
        kind=TimelineKind.QUARANTINED,
        actor=None,
        detail=(
            f"training exclusion made permanent; {taken_down} share link(s) taken down; "
            f"evidence held until {until.date()}"
        ),
    )


def lift_quarantine(session: Session, *, case: Case, now: datetime) -> None:
    """An appeal overturned the illegal-content finding: links back, quarantine holds lifted.
    The training exclusion stays: a reported conversation never goes to training."""
    case.quarantined_at = None
    session.add(case)
    restored = restore_links_of(session, conversation_id=case.conversation_id)
    quarantine_holds = session.exec(
        select(LegalHold).where(
            LegalHold.case_id == case.id,
            LegalHold.source == HoldSource.QUARANTINE,
            col(LegalHold.lifted_at).is_(None),
        )
    ).all()
    for hold in quarantine_holds:
        holds.lift_hold(
            session,
            case=case,
            hold_id=hold.id,
            actor=None,
            reason="the appeal overturned the illegal-content decision",
            now=now,
        )
    record(
        session,
        case_id=case.id,
        kind=TimelineKind.QUARANTINED,
        actor=None,
        detail=f"quarantine lifted: {restored} share link(s) restored; training exclusion kept",
    )
