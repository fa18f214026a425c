"""Verbs a claimer performs on a case: decide, escalate, write a note."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import delete
from sqlmodel import Session, col, select

from access_control.guard import authorize
from access_control.models import User
from access_control.permissions import Queue
from core.faults import pause
from moderation.intake import taxonomy
from moderation.intake.models import Case, CaseStage
from moderation.review import claims, consequences
from moderation.review.access import case_resource
from moderation.review.claims import ClaimConflict
from moderation.review.models import (
    DESTRUCTIVE,
    Automation,
    CaseClaim,
    CaseDecision,
    DecisionKind,
    Ground,
    Outcome,
    TimelineKind,
)
from moderation.review.rules import ReviewRules
from moderation.review.timeline import record
from privacy.models import Conversation

ESCALATION_TARGETS = {"specialist": Queue.ESCALATIONS, "legal": Queue.LEGAL}


class ReviewInputError(ClaimConflict):
    """Bad input on a claimed case (shown like a conflict: nothing changed)."""


def hand_back(
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


def check_decision(decision: DecisionInput, today: date) -> None:
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


def latest_decision(session: Session, *, case_id: int, final: bool | None = None):
    """The newest decision on a case (only final ones, or only provisional ones, if asked)."""
    query = select(CaseDecision).where(CaseDecision.case_id == case_id)
    if final is not None:
        query = query.where(col(CaseDecision.final) == final)
    return session.exec(query.order_by(col(CaseDecision.id).desc())).first()


def decision_row(
    case: Case,
    reviewer: User,
    decision: DecisionInput,
    *,
    now: datetime,
    kind: DecisionKind,
    final: bool,
    supersedes: CaseDecision | None,
) -> CaseDecision:
    outcome, ground = Outcome(decision.outcome), Ground(decision.ground)
    return CaseDecision(
        case_id=case.id,
        reviewer_id=reviewer.id,
        outcome=outcome,
        labels=",".join(sorted(set(decision.labels))),
        decided_at=now,
        ground=ground,
        legal_ground=decision.legal_ground if ground == Ground.ILLEGAL else "",
        terms_ground=decision.terms_ground if ground == Ground.INCOMPATIBLE else "",
        explanation=decision.explanation if ground != Ground.NO_VIOLATION else "",
        facts=decision.facts,
        automated_detection=decision.automated_detection,
        automated_decision=Automation(decision.automated_decision),
        restricted_until=decision.restricted_until if outcome == Outcome.RESTRICT else None,
        supersedes_id=supersedes.id if supersedes else None,
        kind=kind,
        final=final,
    )


def as_input(row: CaseDecision) -> DecisionInput:
    """A recorded decision as input again (a confirmation copies what it confirms)."""
    return DecisionInput(
        outcome=row.outcome,
        labels=tuple(filter(None, row.labels.split(","))),
        ground=row.ground,
        legal_ground=row.legal_ground,
        terms_ground=row.terms_ground,
        explanation=row.explanation,
        facts=row.facts,
        automated_detection=row.automated_detection,
        automated_decision=row.automated_decision,
        restricted_until=row.restricted_until,
        confirmed=True,
    )


def _summary(row: CaseDecision) -> str:
    return f"{row.ground}, {row.outcome}; labels: {row.labels or 'none'}"


# Actions the chat service carries out (it holds the content and the accounts); Vigil tells
# it through the decision.final webhook.
SERVICE_ACTIONS = frozenset({Outcome.REMOVE, Outcome.RESTRICT})


def check_enforceable(session: Session, *, case: Case, decision: DecisionInput) -> None:
    """Offer only what someone carries out: removal and account restriction need the chat
    service, so they are refused for a conversation only Vigil holds."""
    conversation = session.get(Conversation, case.conversation_id)
    if decision.outcome in SERVICE_ACTIONS and not (conversation and conversation.external_id):
        raise ReviewInputError(
            "This conversation is held by Vigil, not by the chat service, so nobody would "
            "carry out a removal or an account restriction: disable its share links instead."
        )


def require_second_pair(session: Session, *, case: Case, reviewer: User, now: datetime) -> None:
    """The policy must let this reviewer confirm (a specialist of the queue who has not
    decided on the case): the four-eyes rule lives in the policy's `case confirm` rows."""
    facts = case_resource(session, case=case, now=now)
    if not authorize(reviewer, facts, "confirm", queue=case.queue):
        raise ClaimConflict("A second specialist who did not decide this case must confirm it.")


def decide_case(
    session: Session,
    *,
    case: Case,
    reviewer: User,
    token: str,
    decision: DecisionInput,
    now: datetime,
    rules: ReviewRules,
) -> CaseDecision:
    """Record the claimer's decision (append-only: it points to the one it replaces).

    On a severe category it is provisional: the case waits, open, for a second specialist.
    In second review this is the second specialist replacing the provisional decision
    (overturning it); that, like any decision needing no second look, is final.
    """
    claims.require_claim(session, case_id=case.id, reviewer=reviewer, token=token, now=now)
    check_decision(decision, now.date())
    check_enforceable(session, case=case, decision=decision)
    if case.stage == CaseStage.APPEAL:
        raise ReviewInputError("This case is an appeal: uphold or overturn the decision.")
    second = case.stage == CaseStage.SECOND_REVIEW
    if second:
        require_second_pair(session, case=case, reviewer=reviewer, now=now)
    final = second or not rules.needs_four_eyes(case.category, decision.labels)
    row = decision_row(
        case,
        reviewer,
        decision,
        now=now,
        kind=DecisionKind.SECOND_REVIEW if second else DecisionKind.FIRST,
        final=final,
        supersedes=latest_decision(session, case_id=case.id),
    )
    session.add(row)
    session.flush()
    record(
        session,
        case_id=case.id,
        kind=TimelineKind.LABELLED,
        actor=reviewer,
        detail=row.labels or "no label",
    )
    if not final:
        case.stage = CaseStage.SECOND_REVIEW
        session.add(case)
        hand_back(
            session,
            case=case,
            reviewer=reviewer,
            kind=TimelineKind.DECIDED,
            detail=f"provisional, waits for a second specialist: {_summary(row)}",
        )
        return row
    kind = TimelineKind.OVERTURNED if second else TimelineKind.DECIDED
    hand_back(session, case=case, reviewer=reviewer, kind=kind, detail=_summary(row))
    consequences.finalize(session, case=case, decision=row, now=now, rules=rules)
    session.flush()  # everything the decision writes is in the open transaction ...
    pause("decision")  # ... where the crash drill may kill the worker (a no-op otherwise)
    return row


def confirm_decision(
    session: Session,
    *,
    case: Case,
    reviewer: User,
    token: str,
    note: str,
    now: datetime,
    rules: ReviewRules,
) -> CaseDecision:
    """The second specialist confirms the provisional decision: it becomes final as stated."""
    claims.require_claim(session, case_id=case.id, reviewer=reviewer, token=token, now=now)
    provisional = latest_decision(session, case_id=case.id)
    if case.stage != CaseStage.SECOND_REVIEW or provisional is None or provisional.final:
        raise ReviewInputError("There is no provisional decision to confirm.")
    require_second_pair(session, case=case, reviewer=reviewer, now=now)
    if len(note) > 1000:
        raise ReviewInputError("A confirmation note has at most 1,000 characters.")
    row = decision_row(
        case,
        reviewer,
        as_input(provisional),
        now=now,
        kind=DecisionKind.SECOND_REVIEW,
        final=True,
        supersedes=provisional,
    )
    session.add(row)
    session.flush()
    detail = _summary(row) + (f"; {note.strip()}" if note.strip() else "")
    hand_back(session, case=case, reviewer=reviewer, kind=TimelineKind.CONFIRMED, detail=detail)
    consequences.finalize(session, case=case, decision=row, now=now, rules=rules)
    return row


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
    hand_back(
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
