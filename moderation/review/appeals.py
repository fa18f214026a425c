"""Appeals (DSA Art. 20): the affected user or a reporter complains about a final decision,
free of charge, within the window; the case reopens in the appeals queue, where only
someone who did not decide it may decide the appeal (policy: `appeals` deny rows)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from access_control.models import User
from access_control.permissions import Queue
from core.timeutil import as_utc
from moderation.intake.cases import new_ref
from moderation.intake.models import Case, CaseStage, CaseState, Report, ReportStatus
from moderation.review import claims, consequences, notifications
from moderation.review.access import deciders
from moderation.review.decisions import (
    DecisionInput,
    ReviewInputError,
    check_decision,
    check_enforceable,
    decision_row,
    hand_back,
    latest_decision,
)
from moderation.review.models import (
    Appeal,
    AppealOutcome,
    Appellant,
    CaseDecision,
    DecisionKind,
    TimelineKind,
)
from moderation.review.rules import ReviewRules
from moderation.review.timeline import record
from privacy.models import Conversation

MAX_STATEMENT = 5000


class AppealRefused(Exception):
    """The appeal cannot be filed; `status` is the HTTP answer (409 conflict, 422 input)."""

    def __init__(self, why: str, status: int = 422) -> None:
        super().__init__(why)
        self.why, self.status = why, status


def appeal_until(decision: CaseDecision, rules: ReviewRules) -> datetime:
    return as_utc(decision.decided_at) + rules.appeal_window


def appeals_of(session: Session, *, case_id: int) -> list[Appeal]:
    return list(
        session.exec(select(Appeal).where(Appeal.case_id == case_id).order_by(col(Appeal.id)))
    )


def open_appeals(session: Session, *, case_id: int) -> list[Appeal]:
    return [a for a in appeals_of(session, case_id=case_id) if a.outcome is None]


def decided_case_of(session: Session, *, conversation_id: int) -> Case | None:
    """The newest case about a conversation that has a final decision (what an owner
    appeals)."""
    return session.exec(
        select(Case)
        .where(Case.conversation_id == conversation_id)
        .where(col(Case.id).in_(select(CaseDecision.case_id).where(col(CaseDecision.final))))
        .order_by(col(Case.id).desc())
    ).first()


def decided_cases_of_owner(session: Session, *, user_id: int) -> list[Case]:
    """Cases with a final decision about conversations this account owns, newest first."""
    return list(
        session.exec(
            select(Case)
            .join(Conversation, col(Conversation.id) == col(Case.conversation_id))
            .where(Conversation.owner_id == user_id)
            .where(col(Case.id).in_(select(CaseDecision.case_id).where(col(CaseDecision.final))))
            .order_by(col(Case.id).desc())
        )
    )


def may_appeal(session: Session, *, case: Case, appellant_key: str, now: datetime, rules):
    """(decision, deadline, open) for the appeal box: what is appealable, until when, and
    whether this appellant's appeal is already open."""
    decision = latest_decision(session, case_id=case.id, final=True)
    if decision is None:
        return None, None, False
    mine = any(a.appellant_key == appellant_key for a in open_appeals(session, case_id=case.id))
    return decision, appeal_until(decision, rules), mine


def file_appeal(
    session: Session,
    *,
    case: Case,
    appellant: Appellant,
    appellant_key: str,
    statement: str,
    channel: str,
    now: datetime,
    rules: ReviewRules,
    report: Report | None = None,
) -> Appeal:
    """File an appeal against the case's final decision (caller commits)."""
    session.refresh(case, with_for_update=True)  # one appeal opening the case at a time
    decision = latest_decision(session, case_id=case.id, final=True)
    statement = statement.strip()
    if decision is None or case.stage == CaseStage.SECOND_REVIEW:
        raise AppealRefused("There is no final decision on this case to appeal.", 409)
    if now > appeal_until(decision, rules):
        raise AppealRefused(
            f"Appeals were possible until {appeal_until(decision, rules):%Y-%m-%d}.", 409
        )
    if not statement or len(statement) > MAX_STATEMENT:
        raise AppealRefused(f"Say why you disagree (1 to {MAX_STATEMENT:,} characters).")
    if any(a.appellant_key == appellant_key for a in open_appeals(session, case_id=case.id)):
        raise AppealRefused("Your appeal on this decision is already being reviewed.", 409)
    if any(
        a.appellant_key == appellant_key and a.decision_id == decision.id
        for a in appeals_of(session, case_id=case.id)
    ):
        raise AppealRefused("Your appeal on this decision was already decided.", 409)
    from_queue = _from_queue(session, case)
    if case.state == CaseState.CLOSED:
        _reopen_for_appeal(session, case=case)
    appeal = Appeal(
        ref=new_ref("VA-"),
        case_id=case.id,
        decision_id=decision.id,
        appellant=appellant,
        appellant_key=appellant_key,
        report_id=report.id if report is not None else None,
        statement=statement,
        channel=channel,
        filed_at=now,
        from_queue=from_queue,
    )
    session.add(appeal)
    consequences.set_report_status(session, case_id=case.id, status=ReportStatus.UNDER_APPEAL)
    record(
        session,
        case_id=case.id,
        kind=TimelineKind.APPEALED,
        actor=None,
        detail=f"{appeal.ref} by the {appellant.value} ({channel})",
    )
    session.flush()
    notifications.appeal_event(session, appeal=appeal, case=case, event_type="appeal.filed")
    return appeal


def _from_queue(session: Session, case: Case) -> str:
    earlier = open_appeals(session, case_id=case.id)
    return earlier[0].from_queue if earlier else case.queue


def _reopen_for_appeal(session: Session, *, case: Case) -> None:
    if case.purged_at is not None:
        raise AppealRefused("This case's evidence was purged; it cannot be reviewed again.", 409)
    case.state, case.stage, case.closed_at = CaseState.OPEN, CaseStage.APPEAL, None
    from_queue = case.queue
    # Child-safety appeals stay with child-safety specialists (who did not decide them);
    # every other appeal goes to the appeals queue.
    if from_queue != Queue.CHILD_SAFETY:
        case.queue = Queue.APPEALS
    session.add(case)
    try:
        with session.begin_nested():  # one open case per conversation (a newer report)
            session.flush()
    except IntegrityError as exc:
        case.queue = from_queue
        raise AppealRefused(
            "A newer case about this conversation is under review; appeal once it is decided.",
            409,
        ) from exc


def decide_appeal(
    session: Session,
    *,
    case: Case,
    reviewer: User,
    token: str,
    outcome: str,
    note: str,
    decision: DecisionInput | None,
    now: datetime,
    rules: ReviewRules,
) -> list[Appeal]:
    """Uphold the decision (with the reasons, told to the appellants) or overturn it with a
    new decision. An overturn on a four-eyes category is provisional: a second specialist
    confirms it like any first decision, and the appeal is settled then (see
    consequences.finalize, which also undoes what no longer stands)."""
    claims.require_claim(session, case_id=case.id, reviewer=reviewer, token=token, now=now)
    pending = open_appeals(session, case_id=case.id)
    if case.stage != CaseStage.APPEAL or not pending:
        raise ReviewInputError("This case has no open appeal.")
    if reviewer.subject in deciders(session, case_id=case.id):
        raise claims.ClaimConflict("Someone who decided this case cannot decide its appeal.")
    if outcome not in AppealOutcome.__members__.values():
        raise ReviewInputError("Uphold or overturn the decision.")
    appealed = latest_decision(session, case_id=case.id, final=True)
    if outcome == AppealOutcome.UPHELD:
        note = note.strip()
        if not note or len(note) > 2000:
            raise ReviewInputError("Say why the decision stands (1 to 2,000 characters).")
        for appeal in pending:
            appeal.outcome, appeal.decided_at, appeal.decided_by = (
                AppealOutcome.UPHELD,
                now,
                reviewer.id,
            )
            appeal.result_decision_id, appeal.outcome_reason = appealed.id, note
            session.add(appeal)
        case.queue = pending[0].from_queue
        case.state, case.stage, case.closed_at = CaseState.CLOSED, CaseStage.REVIEW, now
        session.add(case)
        status = notifications.report_status(appealed)
        consequences.set_report_status(session, case_id=case.id, status=status)
        hand_back(
            session,
            case=case,
            reviewer=reviewer,
            kind=TimelineKind.APPEAL_DECIDED,
            detail=f"upheld: {note}",
        )
        for appeal in pending:
            notifications.appeal_event(
                session, appeal=appeal, case=case, event_type="appeal.decided"
            )
        return pending
    if decision is None:
        raise ReviewInputError("An overturn states the new decision.")
    check_decision(decision, now.date())
    check_enforceable(session, case=case, decision=decision)
    final = not rules.needs_four_eyes(
        case.category, (*decision.labels, *appealed.labels.split(","))
    )
    result = decision_row(
        case,
        reviewer,
        decision,
        now=now,
        kind=DecisionKind.APPEAL,
        final=final,
        supersedes=appealed,
    )
    session.add(result)
    session.flush()
    summary = f"{result.ground}, {result.outcome}; labels: {result.labels or 'none'}"
    case.queue = pending[0].from_queue
    if not final:
        case.stage = CaseStage.SECOND_REVIEW
        session.add(case)
        hand_back(
            session,
            case=case,
            reviewer=reviewer,
            kind=TimelineKind.APPEAL_DECIDED,
            detail=f"overturn proposed, waits for a second specialist: {summary}",
        )
        return pending
    hand_back(
        session,
        case=case,
        reviewer=reviewer,
        kind=TimelineKind.APPEAL_DECIDED,
        detail=f"overturned: {summary}",
    )
    consequences.finalize(session, case=case, decision=result, now=now, rules=rules)
    return pending
