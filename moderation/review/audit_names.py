"""What the auditor pages need from the case side: references and break-glass grants by id
(registered into audit.names at start-up; audit never imports moderation)."""

from __future__ import annotations

from sqlmodel import Session, col, select

from access_control.models import User
from audit.names import Names
from moderation.intake.models import Case
from moderation.review.models import BreakGlassGrant

MAX_ID = 2**31 - 1


def _ints(values: set[str]) -> list[int]:
    return [int(v) for v in values if v.isdigit() and len(v) <= 10 and int(v) <= MAX_ID]


def case_ids(session: Session, text: str) -> list[str]:
    """The internal id of the case with this reference (case-insensitive), if any."""
    found = session.exec(select(Case.id).where(Case.ref == text.strip().upper())).all()
    return [str(case_id) for case_id in found]


def case_refs(session: Session, ids: set[str]) -> dict[str, str]:
    """{internal id: reference} for the ids that are cases."""
    rows = session.exec(select(Case.id, Case.ref).where(col(Case.id).in_(_ints(ids))))
    return {str(case_id): ref for case_id, ref in rows}


def grants(session: Session, ids: set[str]) -> dict[str, str]:
    """{grant id: "#N: reason (approved by ...)"} for break-glass grants."""
    rows = session.exec(
        select(BreakGlassGrant, User)
        .outerjoin(User, col(User.id) == col(BreakGlassGrant.approver_id))
        .where(col(BreakGlassGrant.id).in_(_ints(ids)))
    )
    return {
        str(grant.id): f"#{grant.id}: {grant.reason} (approved by "
        f"{approver.label if approver else 'nobody yet'})"
        for grant, approver in rows
    }


NAMES = Names(case_ids=case_ids, case_refs=case_refs, grants=grants)
