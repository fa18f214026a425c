"""Verbs a claimer performs on a case: decide, escalate, write a note."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import delete
from sqlmodel import Session, col, select

from access_control.models import User
from access_control.permissions import Queue
from moderation.intake import taxonomy
from moderation.intake.models import Case, CaseState, Report, ReportStatus
from moderation.review import claims
from moderation.review.claims import ClaimConflict
from moderation.review.models import (
    DESTRUCTIVE,
    Automation,
    CaseClaim,
    CaseDecision,
    Ground,
    Outcome,
    TimelineKind,
)
from moderation.review.timeline import record
from privacy.sharing import revoke_links_of

ESCALATION_TARGETS = {"specialist": Queue.ESCALATIONS, "legal": Queue.LEGAL}


class ReviewInputError(ClaimConflict):
    """Bad input on a claimed case (shown like a conflict: nothing changed)."""


def _hand_back(
    session: Session, *, case: Case, reviewer: User, kind: TimelineKind, detail: str
) -> None:
    """End the claim and say on the timeline why (a decision or an escalation)."""
    session.execute(delete(CaseClaim).where(col(CaseClaim.case_id) == case.id))
    record(session, case_id=case.id, kind=kind, actor=reviewer, detail=detail)


# The Transparency Database's limits (docs/dsa-statement-api.md), enforced at the door.
MAX_GROUND = 500
MAX_EXPLANATION = 2000
MAX_FACTS = 5000


@dataclass(frozen=True)
class DecisionInput:
    """What the decider states: labels, ground, action, facts, automation."""

    outcome: str
    labels: tuple[str, ...] = ()
    ground: str = Ground.NO_VIOLATION
    legal_ground: str = ""
    terms_ground: str = ""
    explanation: str = ""
    facts: str = ""
    automated_detection: bool = False
    automated_decision: str = Automation.NOT_AUTOMATED
    restricted_until: date | None = None
    confirmed: bool = False

    @classmethod
    def from_form(cls, form) -> DecisionInput:
        """Read the decision form; a malformed date is a ReviewInputError."""
        raw_until = (form.get("restricted_until") or "").strip()
        try:
            until = date.fromisoformat(raw_until) if raw_until else None
        except ValueError as exc:
            raise ReviewInputError("Give the restriction's end as a date (YYYY-MM-DD).") from exc
        return cls(
            outcome=form.get("outcome", ""),
            labels=tuple(form.getlist("labels")),
            ground=form.get("ground", ""),
            legal_ground=form.get("legal_ground", "").strip(),
            terms_ground=form.get("terms_ground", "").strip(),
            explanation=form.get("explanation", "").strip(),
            facts=form.get("facts", "").strip(),
            automated_detection=form.get("automated_detection") == "yes",
            automated_decision=form.get("automated_decision", Automation.NOT_AUTOMATED),
            restricted_until=until,
            confirmed=form.get("confirm") == "yes",
        )


def _check(decision: DecisionInput, today: date) -> None:
    """Every rule of a decision, one message per problem (nothing is stored on error)."""
    if decision.outcome not in Outcome.__members__.values():
        raise ReviewInputError("Choose an action.")
    if decision.ground not in Ground.__members__.values():
        raise ReviewInputError("Choose a ground: illegal, against the terms, or no violation.")
    if decision.automated_decision not in Automation.__members__.values():
        raise ReviewInputError("Say whether the decision was automated.")
    if not decision.labels and decision.ground != Ground.NO_VIOLATION:
        raise ReviewInputError("Choose at least one label.")
    for label in decision.labels:
        try:
            taxonomy.category(label)
        except KeyError as exc:
            raise ReviewInputError(f"Unknown label {label!r}.") from exc
    if not decision.facts or len(decision.facts) > MAX_FACTS:
        raise ReviewInputError(
            f"Describe the facts and circumstances in your own words (1 to {MAX_FACTS:,} "
            "characters)."
        )
    if len(decision.explanation) > MAX_EXPLANATION:
        raise ReviewInputError(f"The explanation has at most {MAX_EXPLANATION:,} characters.")
    if decision.ground == Ground.ILLEGAL and not (
        0 < len(decision.legal_ground) <= MAX_GROUND and decision.explanation
    ):
        raise ReviewInputError(
            "Illegal content needs its legal ground (the law, at most 500 characters) and an "
            "explanation of why the content breaks it."
        )
    if decision.ground == Ground.INCOMPATIBLE and not (
        0 < len(decision.terms_ground) <= MAX_GROUND and decision.explanation
    ):
        raise ReviewInputError(
            "Content against the terms needs the term relied on (at most 500 characters) and "
            "an explanation."
        )
    if decision.ground == Ground.NO_VIOLATION and decision.outcome in DESTRUCTIVE:
        raise ReviewInputError("With no violation, the action can only be none.")
    if decision.outcome in DESTRUCTIVE and not decision.confirmed:
        raise ReviewInputError("This action restricts someone: tick the confirmation.")
    if decision.outcome == Outcome.RESTRICT and not (
        decision.restricted_until and today < decision.restricted_until <= date(2038, 1, 1)
    ):
        raise ReviewInputError("Restricting the account needs an end date after today.")


def decide_case(
    session: Session,
    *,
    case: Case,
    reviewer: User,
    token: str,
    decision: DecisionInput,
    now: datetime,
) -> CaseDecision:
    """Record the decision, close the case and end the claim (append-only: a decision that
    replaces an earlier one points to it, and both stay)."""
    claims.require_claim(session, case_id=case.id, reviewer=reviewer, token=token, now=now)
    _check(decision, now.date())
    earlier = session.exec(
        select(CaseDecision)
        .where(CaseDecision.case_id == case.id)
        .order_by(col(CaseDecision.id).desc())
    ).first()
    outcome = Outcome(decision.outcome)
    labels = decision.labels
    illegal = decision.ground == Ground.ILLEGAL
    decision = CaseDecision(
        case_id=case.id,
        reviewer_id=reviewer.id,
        outcome=outcome,
        labels=",".join(sorted(set(labels))),
        decided_at=now,
        ground=Ground(decision.ground),
        legal_ground=decision.legal_ground if illegal else "",
        terms_ground=decision.terms_ground if decision.ground == Ground.INCOMPATIBLE else "",
        explanation=decision.explanation if decision.ground != Ground.NO_VIOLATION else "",
        facts=decision.facts,
        automated_detection=decision.automated_detection,
        automated_decision=Automation(decision.automated_decision),
        restricted_until=decision.restricted_until if outcome == Outcome.RESTRICT else None,
        supersedes_id=earlier.id if earlier else None,
    )
    session.add(decision)
    if outcome == Outcome.DISABLE_SHARE_LINKS:
        revoke_links_of(session, conversation_id=case.conversation_id)
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
        detail=f"{decision.ground}, {outcome}; labels: {decision.labels or 'none'}",
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
