"""Telling the chat backend: decision outcomes, report outcomes and appeals as signed webhook
events, written to the outbox in the decision's own transaction (see docs/webhooks.md).

Only what the backend itself sent is addressed (its conversations, its reports); people who
use Vigil directly read the same outcome on their own pages. No event names a reviewer.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from core.timeutil import as_utc
from moderation.intake.models import Case, Channel, Report, ReportStatus
from moderation.notify.outbox import enqueue
from moderation.review.models import Appeal, CaseDecision, Ground, Outcome
from moderation.review.rules import ReviewRules
from moderation.review.statements import statement_for
from privacy.models import Conversation


def _source(session: Session, case: Case) -> str:
    first = session.exec(
        select(Report.source_type).where(Report.case_id == case.id).order_by(col(Report.id))
    ).first()
    return first or "own_initiative"


def report_status(decision: CaseDecision) -> ReportStatus:
    """What a reporter is told: action taken (anything but "no violation, no action")."""
    if decision.ground == Ground.NO_VIOLATION and decision.outcome == Outcome.NO_ACTION:
        return ReportStatus.NO_ACTION
    return ReportStatus.ACTION_TAKEN


def decision_summary(decision: CaseDecision, rules: ReviewRules) -> dict:
    """The outcome as both the affected user and a reporter may learn it."""
    return {
        "decided_at": as_utc(decision.decided_at).isoformat(),
        "ground": decision.ground.value,
        "action": decision.outcome.value,
        "labels": list(filter(None, decision.labels.split(","))),
        "appeal_until": as_utc(decision.decided_at + rules.appeal_window).isoformat(),
    }


def decision_final(
    session: Session, *, case: Case, decision: CaseDecision, rules: ReviewRules
) -> None:
    """One event for the affected owner (with the statement of reasons) and one per report
    the backend filed (the outcome only)."""
    conversation = session.get(Conversation, case.conversation_id)
    summary = decision_summary(decision, rules)
    if conversation is not None and conversation.external_id:
        statement = statement_for(
            decision, case=case, conversation=conversation, source=_source(session, case)
        )
        enqueue(
            session,
            event_type="decision.final",
            payload={
                "case": case.ref,
                "conversation_id": conversation.external_id,
                "owner_id": conversation.owner_ref or None,
                **summary,
                "facts": decision.facts,
                "explanation": decision.explanation,
                "statement_of_reasons": statement,
            },
        )
    reports = session.exec(
        select(Report).where(Report.case_id == case.id, Report.channel == Channel.API)
    ).all()
    for report in reports:
        enqueue(
            session,
            event_type="report.outcome",
            payload={"report": report.ref, "status": report_status(decision).value, **summary},
        )


def appeal_event(session: Session, *, appeal: Appeal, case: Case, event_type: str) -> None:
    """appeal.filed or appeal.decided, for appeals the backend can relate to."""
    if appeal.channel != "api" and not _from_backend(session, case):
        return
    enqueue(
        session,
        event_type=event_type,
        payload={
            "appeal": appeal.ref,
            "case": case.ref,
            "appellant": appeal.appellant.value,
            "outcome": appeal.outcome.value if appeal.outcome else None,
            # Why an upheld decision stands; an overturn comes with its own decision.final.
            "reason": appeal.outcome_reason or None,
        },
    )


def _from_backend(session: Session, case: Case) -> bool:
    conversation = session.get(Conversation, case.conversation_id)
    return conversation is not None and bool(conversation.external_id)
