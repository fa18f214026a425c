"""What the case page shows, and the one-message reveal: each logs the look (committed)
before anything is decrypted (DESIGN.md section 2)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import and_
from sqlmodel import Session, col, select

from access_control.guard import authorize
from access_control.models import User
from access_control.permissions import Resource
from audit.access_log import count_people
from audit.gate import reveal
from audit.models import AccessEntry
from audit.reasons import AccessAction, ReasonCode
from moderation.intake import evidence as evidence_store
from moderation.intake import taxonomy
from moderation.intake.evidence import EvidenceKeys
from moderation.intake.models import Case, CaseKey, EvidenceVersion, Report
from moderation.review.access import grant_in_use, reason_for_look, viewers_of
from moderation.review.appeals import appeals_of
from moderation.review.claims import still_live
from moderation.review.holds import active_holds
from moderation.review.models import CaseClaim, CaseDecision, CaseEvent
from moderation.review.subject import reports_of_case, subject_history


def current_evidence(session: Session, case: Case) -> EvidenceVersion:
    """The case's latest evidence version."""
    return session.exec(
        select(EvidenceVersion).where(
            EvidenceVersion.case_id == case.id, EvidenceVersion.version == case.evidence_version
        )
    ).one()


def case_material(
    session: Session, *, case: Case, now: datetime
) -> tuple[EvidenceVersion | None, str | None, CaseClaim | None]:
    """The case's latest evidence, its wrapped data key (None once destroyed) and its live
    claim, read fresh in one round trip."""
    evidence, wrapped, claim = session.exec(
        select(EvidenceVersion, CaseKey.wrapped, CaseClaim)
        .select_from(Case)
        .outerjoin(
            EvidenceVersion,
            and_(
                col(EvidenceVersion.case_id) == col(Case.id),
                col(EvidenceVersion.version) == col(Case.evidence_version),
            ),
        )
        .outerjoin(CaseKey, col(CaseKey.case_id) == col(Case.id))
        .outerjoin(CaseClaim, col(CaseClaim.case_id) == col(Case.id))
        .where(Case.id == case.id)
        .execution_options(populate_existing=True)
    ).one()
    return evidence, wrapped, still_live(claim, now=now)


def _log_look(session, *, user, case, action, reason, note, message=None) -> AccessEntry:
    """Commit the ALLOWED entry: the typed justification, the queue, the message number as
    the page shows it, and the break-glass grant the look relies on."""
    grant = (
        grant_in_use(session, user=user, case=case) if reason == ReasonCode.BREAK_GLASS else None
    )
    return reveal(
        session,
        actor=user,
        action=action,
        reason_code=reason,
        case_id=case.id,
        conversation_id=case.conversation_id,
        evidence_version=case.evidence_version,
        note=note or None,
        queue=case.queue,
        message=message,
        grant_id=grant.id if grant else None,
    )


def case_view(
    session: Session,
    *,
    user: User,
    case: Case,
    content: Resource,
    looks: set[tuple[str, int]],
    reason: ReasonCode,
    note: str,
    keys: EvidenceKeys,
    viewer_cap: int,
    look: dict[str, bool],
    now: datetime,
) -> dict[str, Any]:
    """The case page's context, after the look is logged; AccessRefused if it is refused.
    `looks` are the case's (reason, actor) looks so far, read with `content`'s facts: the
    viewer cap and the access summary count them."""
    looks = set(looks)
    logged = reason_for_look(
        user=user,
        case=case,
        content=content,
        reason=reason,
        note=note,
        viewer_cap=viewer_cap,
        viewers=viewers_of(looks),
    )
    _log_look(session, user=user, case=case, action=AccessAction.OPEN, reason=logged, note=note)
    looks.add((logged, user.id))
    # The ALLOWED entry has committed: only now is the evidence decrypted. A purged case's
    # key is destroyed: its reports keep their facts, their words are gone.
    evidence, wrapped, claim = case_material(session, case=case, now=now)
    data_key = None
    snapshot = None
    if case.purged_at is None:
        data_key = evidence_store.unwrap_data_key(wrapped, case_id=case.id, keys=keys)
        snapshot = evidence_store.open_evidence(
            session, evidence=evidence, keys=keys, data_key=data_key
        )
    reports = session.exec(
        select(Report).where(Report.case_id == case.id).order_by(col(Report.id))
    ).all()
    # Reporters' statements are sealed with the evidence: opened only now, too. Names and
    # emails of notifiers only for a role that may unmask them.
    may_unmask = authorize(user, Resource(kind="reporter_identity"), "read")
    return {
        "case": case,
        "snapshot": snapshot,
        "reported": {mid for r in reports for mid in json.loads(r.message_ids or "[]")},
        "reports": reports,
        "report_views": reports_of_case(
            reports, case=case, data_key=data_key, may_unmask=may_unmask
        ),
        "history": subject_history(session, case=case),
        "claim": claim if claim and claim.reviewer_id == user.id else None,
        "reason": logged,
        "category": taxonomy.category(case.category),
        "categories": taxonomy.categories(),
        "events": session.exec(
            select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(col(CaseEvent.id))
        ).all(),
        "accesses": count_people(looks),
        "decisions": session.exec(
            select(CaseDecision)
            .where(CaseDecision.case_id == case.id)
            .order_by(col(CaseDecision.id))
        ).all(),
        "appeals": appeals_of(session, case_id=case.id),
        "active_holds": active_holds(session, case_id=case.id, now=now),
        "now": now,
        **look,
    }


def reveal_message(
    session: Session,
    *,
    user: User,
    case: Case,
    content: Resource,
    looks: set[tuple[str, int]],
    reason: ReasonCode,
    note: str,
    index: int,
    keys: EvidenceKeys,
    viewer_cap: int,
) -> tuple[AccessEntry, str] | None:
    """(entry, message text) after the reveal is logged; None for no such message."""
    logged = reason_for_look(
        user=user,
        case=case,
        content=content,
        reason=reason,
        note=note,
        viewer_cap=viewer_cap,
        viewers=viewers_of(looks),
    )
    evidence = current_evidence(session, case)
    if case.purged_at is not None or not 0 <= index < evidence.message_count:
        return None
    entry = _log_look(
        session,
        user=user,
        case=case,
        action=AccessAction.REVEAL,
        reason=logged,
        note=note,
        message=index + 1,
    )
    # Blurred text is not in the page: it leaves the server only now, after its entry.
    snapshot = evidence_store.open_evidence(session, evidence=evidence, keys=keys)
    return entry, snapshot["messages"][index]["text"]
