"""Need-to-know: the case facts the policy reads, and the checks the policy cannot make
(which reason fits the look, the distinct-viewer cap, looks only a break-glass grant allows)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy import literal, union_all
from sqlmodel import Session, col, select

from access_control.guard import authorize
from access_control.models import User
from access_control.permissions import Queue, Resource
from audit.access_log import looks_statement
from audit.reasons import ReasonCode
from core.timeutil import as_utc, utcnow
from moderation.intake.models import Case, CaseStage
from moderation.review.models import (
    Appeal,
    BreakGlassGrant,
    CaseClaim,
    CaseDecision,
    GrantState,
    LegalRequest,
    QaSample,
)

# The reason a claimer's look has, by the stage of the case (one flow per reason code).
CLAIMER_REASON = {
    CaseStage.REVIEW: ReasonCode.ASSIGNED_REVIEW,
    CaseStage.SECOND_REVIEW: ReasonCode.SECOND_REVIEW,
    CaseStage.APPEAL: ReasonCode.APPEAL_REVIEW,
}
# Looks the law or the four-eyes rule requires are not held back by the viewer cap.
UNCAPPED = frozenset({ReasonCode.SECOND_REVIEW, ReasonCode.APPEAL_REVIEW})
SPECIALIST_QUEUES = frozenset({Queue.ESCALATIONS, Queue.LEGAL})


class AccessRefused(Exception):
    """Access is refused; `why` is safe to show the reviewer."""

    def __init__(self, why: str, *, offer_break_glass: bool = False) -> None:
        super().__init__(why)
        self.why = why
        self.offer_break_glass = offer_break_glass


def active_grants(session: Session, *, case_id: int, now: datetime) -> list[BreakGlassGrant]:
    """Approved, unexpired break-glass grants on a case."""
    grants = session.exec(
        select(BreakGlassGrant).where(
            BreakGlassGrant.case_id == case_id, BreakGlassGrant.state == GrantState.APPROVED
        )
    ).all()
    return [g for g in grants if g.expires_at and as_utc(g.expires_at) > now]


def grant_in_use(session: Session, *, user: User, case: Case) -> BreakGlassGrant | None:
    """The newest approved, unexpired grant of `user` on `case` (what a BREAK_GLASS look
    relies on), or None."""
    mine = [
        g
        for g in active_grants(session, case_id=case.id, now=utcnow())
        if g.requester_id == user.id
    ]
    return max(mine, key=lambda g: g.id, default=None)


def deciders(session: Session, *, case_id: int) -> tuple[str, ...]:
    """Everyone who decided on this case so far, an appeal upheld included (four-eyes and
    appeals exclude them)."""
    rows = session.exec(
        select(CaseDecision.reviewer_id).distinct().where(CaseDecision.case_id == case_id)
    ).all()
    upheld = session.exec(
        select(Appeal.decided_by).where(Appeal.case_id == case_id, col(Appeal.decided_by) > 0)
    ).all()
    return tuple(sorted({f"user:{row}" for row in (*rows, *upheld)}))


def case_resource(session: Session, *, case: Case, now: datetime) -> Resource:
    """The case as claim and confirm see it: its claimer and its earlier deciders."""
    facts = case_facts(session, case_id=case.id, now=now)
    return Resource(
        kind="case",
        assignee=facts["claim"][0] if facts["claim"] else "",
        involved=facts["involved"],
        stage=case.stage.value,
    )


def may_claim(
    session: Session, *, user: User, case: Case, now: datetime, reassigning: bool = False
) -> bool:
    """Whether the policy lets this user take this case, with its facts: an appeal is not
    for its deciders, and a provisional decision only for a second specialist. A
    reassignment asks as if the case were free (its current claim is what moves)."""
    facts = case_resource(session, case=case, now=now)
    if reassigning:
        facts = replace(facts, assignee="")
    if not authorize(user, facts, "claim", queue=case.queue):
        return False
    return case.stage != CaseStage.SECOND_REVIEW or authorize(
        user, facts, "confirm", queue=case.queue
    )


LOOK = "look:"  # the facts union's rows for looks: ("look:" + reason code, actor id)


def case_facts(
    session: Session, *, case_id: int, now: datetime, looks: bool = False
) -> dict[str, tuple]:
    """Who holds what on a case right now, in one round trip: the live claim, everyone who
    decided (an upheld appeal included), approved break-glass grants, open legal requests
    and QA samples; {fact: sorted subjects}. With `looks`, the same query also reads the
    case's looks so far ("looks": sorted (reason code, actor id) pairs, not policy facts:
    the viewer cap and the access summary count them)."""

    def fact(name: str, column, *where):
        return select(literal(name).label("fact"), column.label("who")).where(*where)

    grant = BreakGlassGrant
    branches = [
        fact(
            "claim",
            CaseClaim.reviewer_id,
            CaseClaim.case_id == case_id,
            col(CaseClaim.lease_until) > now,
        ),
        fact("involved", CaseDecision.reviewer_id, CaseDecision.case_id == case_id),
        fact("involved", Appeal.decided_by, Appeal.case_id == case_id, col(Appeal.decided_by) > 0),
        fact(
            "break_glass",
            grant.requester_id,
            grant.case_id == case_id,
            grant.state == GrantState.APPROVED,
            col(grant.expires_at) > now,
        ),
        fact(
            "legal_request",
            LegalRequest.user_id,
            LegalRequest.case_id == case_id,
            col(LegalRequest.expires_at) > now,
        ),
        fact(
            "qa_sample",
            QaSample.user_id,
            QaSample.case_id == case_id,
            col(QaSample.expires_at) > now,
        ),
    ]
    if looks:
        seen = looks_statement(case_id).subquery()
        branches.append(select((literal(LOOK) + seen.c.reason).label("fact"), seen.c.actor))
    found: dict[str, set] = {}
    for name, who in session.execute(union_all(*branches)):
        if name.startswith(LOOK):
            found.setdefault("looks", set()).add((name.removeprefix(LOOK), who))
        else:
            found.setdefault(name, set()).add(f"user:{who}")
    names = ("claim", "involved", "break_glass", "legal_request", "qa_sample")
    facts = {name: tuple(sorted(found.get(name, ()))) for name in names}
    if looks:
        facts["looks"] = tuple(sorted(found.get("looks", ())))
    return facts


def content_and_looks(
    session: Session, *, case: Case, now: datetime
) -> tuple[Resource, set[tuple[str, int]]]:
    """The case's content with its facts (claimer, deciders, break-glass, legal-request and
    QA-sample holders), and its (reason, actor) looks so far, read fresh in one query."""
    facts = case_facts(session, case_id=case.id, now=now, looks=True)
    content = Resource(
        kind="content",
        assignee=facts["claim"][0] if facts["claim"] else "",
        involved=facts["involved"],
        stage=case.stage.value,
        break_glass=facts["break_glass"],
        legal_request=facts["legal_request"],
        qa_sample=facts["qa_sample"],
    )
    return content, set(facts["looks"])


def fitting_reasons(user: User, *, case: Case, content: Resource) -> list[ReasonCode]:
    """The reason codes whose flow gives this user this look, most natural first."""
    fitting = []
    if content.assignee == user.subject:
        fitting.append(CLAIMER_REASON[case.stage])
        if case.stage == CaseStage.REVIEW and case.queue in SPECIALIST_QUEUES:
            fitting.append(ReasonCode.SPECIALIST_ESCALATION)
    for reason, holders in (
        (ReasonCode.BREAK_GLASS, content.break_glass),
        (ReasonCode.LEGAL_REQUEST, content.legal_request),
        (ReasonCode.QA_SAMPLE, content.qa_sample),
    ):
        if user.subject in holders:
            fitting.append(reason)
    return fitting


def viewers_of(looks: set[tuple[str, int]]) -> set[int]:
    """The people among a case's (reason, actor) looks."""
    return {actor for _reason, actor in looks}


def reason_problem(reason: ReasonCode | None, fitting: list[ReasonCode]) -> AccessRefused | None:
    """What is wrong with the reason asked for, whatever the policy says (None: nothing)."""
    if reason == ReasonCode.BREAK_GLASS and reason not in fitting:
        return AccessRefused(
            "You hold no approved break-glass grant for this case.", offer_break_glass=True
        )
    if reason is not None and fitting and reason not in fitting:
        return AccessRefused(
            f"The reason {reason} does not fit this look; yours is {' or '.join(fitting)}."
        )
    return None


def reason_for_look(
    *,
    user: User,
    case: Case,
    content: Resource,
    reason: ReasonCode | None,
    note: str,
    viewer_cap: int,
    viewers: set[int],
) -> ReasonCode:
    """The reason to log for a look the policy allowed, or AccessRefused (reason, cap, grant).

    `content` is the Resource the policy decided on (see guard.guarded_resource). `reason`
    None means the reviewer chose none: the flow's own reason is logged. A look that only
    a break-glass grant makes possible (past the distinct-viewer cap) is logged as
    BREAK_GLASS. `viewers` are the people the case's looks so far let see it (viewers_of).
    """
    fitting = fitting_reasons(user, case=case, content=content)
    if not fitting:
        raise AccessRefused("You can see a case's content only while you hold its claim.")
    if problem := reason_problem(reason, fitting):
        raise problem
    chosen = reason or fitting[0]
    if chosen not in CLAIMER_REASON.values() and chosen != ReasonCode.SPECIALIST_ESCALATION:
        return chosen  # break-glass, legal request, QA sample: their own records justify it
    if chosen in UNCAPPED:
        return chosen
    if user.id not in viewers and len(viewers) >= viewer_cap:
        if ReasonCode.BREAK_GLASS in fitting:
            return ReasonCode.BREAK_GLASS
        raise AccessRefused(
            f"{len(viewers)} people have already seen this case; further access needs "
            "break-glass approval.",
            offer_break_glass=True,
        )
    return chosen
