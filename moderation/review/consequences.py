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
    Appeal,
    AppealOutcome,
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
from privacy.sharing import restore_links_of, revoke_links_of


def set_report_status(session: Session, *, case_id: int, status: ReportStatus) -> None:
    session.execute(update(Report).where(col(Report.case_id) == case_id).values(status=status))


def finalize(
    session: Session, *, case: Case, decision: CaseDecision, now: datetime, rules: ReviewRules
) -> None:
    """Apply a final decision (caller commits; everything happens in one transaction, the
    webhook outbox included, so a decision is never half-applied or half-told).

    A decision that ends an appeal settles it: what the appealed decision did and this one
    does not is undone, and the appellants learn whether it was upheld or overturned.
    """
    pending = session.exec(
        select(Appeal).where(Appeal.case_id == case.id, col(Appeal.outcome).is_(None))
    ).all()
    if pending:
        appealed = session.get(CaseDecision, pending[0].decision_id)
        reverse_effects(session, case=case, appealed=appealed, result=decision, now=now)
        same = (appealed.ground, appealed.outcome, appealed.labels) == (
            decision.ground,
            decision.outcome,
            decision.labels,
        )
        for appeal in pending:
            appeal.outcome = AppealOutcome.UPHELD if same else AppealOutcome.OVERTURNED
            appeal.decided_at, appeal.result_decision_id = now, decision.id
            session.add(appeal)
        case.queue = pending[0].from_queue
    case.state, case.stage, case.closed_at = CaseState.CLOSED, CaseStage.REVIEW, now
    session.add(case)
    set_report_status(session, case_id=case.id, status=notifications.report_status(decision))
    taken_down = 0
    if takes_down_links(decision):
        taken_down = revoke_links_of(session, conversation_id=case.conversation_id, ref=case.ref)
    if decision.ground == Ground.ILLEGAL:
        quarantine(
            session, case=case, decision=decision, now=now, rules=rules, taken_down=taken_down
        )
    notifications.decision_final(session, case=case, decision=decision, rules=rules)
    for appeal in pending:
        notifications.appeal_event(session, appeal=appeal, case=case, event_type="appeal.decided")


def takes_down_links(decision: CaseDecision) -> bool:
    """An illegal-content finding, or the action "disable share links", takes the
    conversation's links down and blocks new ones while the decision stands."""
    return decision.ground == Ground.ILLEGAL or decision.outcome == Outcome.DISABLE_SHARE_LINKS


def quarantine(
    session: Session,
    *,
    case: Case,
    decision: CaseDecision,
    now: datetime,
    rules: ReviewRules,
    taken_down: int,
) -> None:
    """Illegal content: out of training for good, links down (see finalize), evidence held."""
    if case.quarantined_at is None:
        case.quarantined_at = now
        session.add(case)
    # The reported conversation is already excluded, for good (exclusions are never
    # removed); make sure of it. Only the id and the coarse reason "reported" cross to the
    # training side: it never learns that there was a finding.
    exclude_from_training(session, conversation_id=case.conversation_id)
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


def reverse_effects(
    session: Session, *, case: Case, appealed: CaseDecision, result: CaseDecision, now: datetime
) -> None:
    """An appeal replaced `appealed` with `result`: undo what no longer stands. Links come
    back (unless another decision still blocks them), quarantine holds are lifted; the
    training exclusion stays: a reported conversation never goes to training."""
    restored = 0
    if takes_down_links(appealed) and not takes_down_links(result):
        restored = restore_links_of(session, conversation_id=case.conversation_id, ref=case.ref)
    if appealed.ground != Ground.ILLEGAL or result.ground == Ground.ILLEGAL:
        return
    case.quarantined_at = None
    session.add(case)
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
            allow_quarantine=True,
        )
    record(
        session,
        case_id=case.id,
        kind=TimelineKind.QUARANTINE_LIFTED,
        actor=None,
        detail=f"quarantine lifted: {restored} share link(s) restored; training exclusion kept",
    )
