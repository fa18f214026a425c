"""What the reviewer sees of the people and history around a case: each report's own words,
reporters as stable pseudonyms, and the subject's other cases with their outcomes."""

from __future__ import annotations

import json
import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import union
from sqlmodel import Session, col, select

from moderation.intake.evidence import open_statement
from moderation.intake.models import Case, Report
from moderation.review.models import CaseDecision
from privacy.models import Conversation


@dataclass(frozen=True)
class ReportView:
    """One report as a reviewer reads it."""

    ref: str
    created_at: datetime
    channel: str
    source_type: str
    category: str
    reporter: str  # "Reporter A": the same reporter keeps one pseudonym within the case
    trusted_flagger: bool
    message_ids: list[str]  # the exact location ([] = the whole conversation)
    words: str  # the description, or the notice's explanation
    good_faith: bool
    contact: str  # the notifier's name and email, only for a role that may unmask


def pseudonym(index: int) -> str:
    """A, B, ..., Z, AA, AB, ...: short, stable labels in order of first report."""
    letters = string.ascii_uppercase
    label = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        label = letters[rest] + label
    return f"Reporter {label}"


def reports_of_case(
    reports: Sequence[Report], *, case: Case, data_key: bytes | None, may_unmask: bool
) -> list[ReportView]:
    """The case's reports (oldest first) with their statements opened under the case's
    data key (call only after the look is logged: statements are sealed with the evidence).
    None for a purged case: its reports keep their facts, their words are gone."""
    labels: dict[str, str] = {}
    views = []
    for report in reports:
        label = labels.setdefault(report.reporter_key, pseudonym(len(labels)))
        statement = (
            open_statement(
                data_key, case_id=case.id, report_ref=report.ref, blob=report.statement_sealed
            )
            if report.statement_sealed and data_key is not None
            else {}
        )
        name, email = statement.get("name", ""), statement.get("email", "")
        if may_unmask:
            contact = " ".join(part for part in (name, f"<{email}>" if email else "") if part)
        else:
            contact = "given (hidden)" if name or email else ""
        views.append(
            ReportView(
                ref=report.ref,
                created_at=report.created_at,
                channel=report.channel.value,
                source_type=report.source_type,
                category=report.category,
                reporter=label,
                trusted_flagger=report.source_type == "trusted_flagger",
                message_ids=json.loads(report.message_ids or "[]"),
                words=statement.get("description") or statement.get("explanation") or "",
                good_faith=report.good_faith,
                contact=contact,
            )
        )
    return views


@dataclass(frozen=True)
class RelatedCase:
    ref: str
    id: int
    state: str
    category: str
    opened_at: datetime
    outcome: str  # the latest decision's outcome, or "" while undecided
    relation: str  # "same conversation" or "same owner"


def subject_history(session: Session, *, case: Case) -> list[RelatedCase]:
    """Other cases about the same conversation or the same owner, newest first (at most 50),
    each with its latest final outcome.

    Each branch is its own indexed lookup (an OR across the join would scan every case),
    with the owner's id and reference as values: as subqueries, PostgreSQL cannot see that
    a reference is rare and scans every conversation."""
    conversation = session.get(Conversation, case.conversation_id)
    branches = [select(Case.id).where(Case.conversation_id == case.conversation_id)]
    owner = select(Case.id).join(Conversation, col(Conversation.id) == col(Case.conversation_id))
    if conversation is not None and conversation.owner_id is not None:
        branches.append(owner.where(Conversation.owner_id == conversation.owner_id))
    if conversation is not None and conversation.owner_ref:
        branches.append(owner.where(Conversation.owner_ref == conversation.owner_ref))
    ids = union(*branches).subquery()
    outcome = (
        select(CaseDecision.outcome)
        .where(CaseDecision.case_id == Case.id, col(CaseDecision.final))
        .order_by(col(CaseDecision.id).desc())
        .limit(1)
        .scalar_subquery()
    )
    query = (
        select(Case, outcome)
        .where(col(Case.id).in_(select(ids.c.id)), Case.id != case.id)
        .order_by(col(Case.id).desc())
        .limit(50)
    )
    rows = session.exec(query).all()
    others = [other for other, _outcome in rows]
    outcomes = {other.id: latest.value for other, latest in rows if latest is not None}
    related = []
    for other in others:
        related.append(
            RelatedCase(
                ref=other.ref,
                id=other.id,
                state=other.state.value,
                category=other.category,
                opened_at=other.first_reported_at,
                outcome=outcomes.get(other.id, ""),
                relation="same conversation"
                if other.conversation_id == case.conversation_id
                else "same owner",
            )
        )
    return related
