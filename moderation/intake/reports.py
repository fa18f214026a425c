"""Intake: one verb that turns a report into a case update, sealed evidence and an exclusion.

Everything submit_report writes goes into the caller's transaction and nothing commits here:
the report, the case update, the evidence version, the case key and the training exclusion
land together or not at all (DESIGN section 9).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from access_control.models import User
from core.timeutil import utcnow
from moderation.intake import taxonomy
from moderation.intake.cases import add_report_to_case, new_ref, open_case
from moderation.intake.evidence import (
    case_data_key,
    freeze_evidence,
    seal_statement,
    snapshot_of_stored,
)
from moderation.intake.models import Channel, Report
from moderation.intake.settings import IntakeSettings
from privacy import conversations
from privacy.conversations import lock_conversation, messages_of
from privacy.models import Conversation, ExclusionReason


class IntakeError(ValueError):
    """A report Vigil refuses: unknown category or source, or messages not in the snapshot."""


@dataclass(frozen=True)
class Reporter:
    """Who reported, as little as needed: a counting key and, if any, the account or token."""

    key: str
    user_id: int | None = None
    token_id: int | None = None


def _check(document: dict, message_ids: Sequence[str], category: str, source_type: str) -> None:
    try:
        taxonomy.category(category)
    except KeyError:
        raise IntakeError(f"unknown category {category!r}") from None
    if source_type not in taxonomy.SOURCES:
        raise IntakeError(f"unknown source type {source_type!r}")
    known = {message["id"] for message in document["messages"]}
    missing = [message_id for message_id in message_ids if message_id not in known]
    if missing:
        raise IntakeError(f"message ids not in the conversation: {', '.join(missing)}")


def submit_report(
    session: Session,
    *,
    settings: IntakeSettings,
    conversation: Conversation,
    document: dict,
    message_ids: Sequence[str],
    category: str,
    source_type: str,
    channel: Channel,
    reporter: Reporter,
    statement: Mapping[str, Any] | None = None,
    good_faith: bool = False,
    now: datetime | None = None,
) -> Report:
    """Record a report: join or open the case, freeze evidence, exclude from training."""
    _check(document, message_ids, category, source_type)
    now = now or utcnow()
    # Intakes for one conversation run one at a time (row lock on PostgreSQL; SQLite's
    # BEGIN IMMEDIATE already serialises writers), so the open-case lookup cannot race.
    lock_conversation(session, conversation_id=conversation.id)
    case, new = open_case(session, conversation_id=conversation.id, category=category, now=now)
    data_key = case_data_key(session, case=case, keys=settings.keys, new_case=new)
    evidence = freeze_evidence(
        session, case=case, data_key=data_key, document=document, now=now, new_case=new
    )
    ref = new_ref("VR-")  # unique index; see open_case on why there is no pre-check
    report = Report(
        ref=ref,
        case_id=case.id,
        conversation_id=conversation.id,
        evidence_version_id=evidence.id,
        channel=Channel(channel),
        source_type=source_type,
        category=category,
        message_ids=json.dumps(list(message_ids)),
        reporter_key=reporter.key,
        reporter_user_id=reporter.user_id,
        token_id=reporter.token_id,
        good_faith=good_faith,
        created_at=now,
    )
    if statement and any(statement.values()):
        report.statement_sealed = seal_statement(
            data_key, case_id=case.id, report_ref=ref, statement=dict(statement)
        )
    session.add(report)
    session.flush()
    add_report_to_case(
        session,
        case=case,
        report=report,
        now=now,
        sla=settings.sla,
        new_case=new,
        language=conversation.language,
    )
    conversations.exclude_from_training(
        session, conversation_id=conversation.id, reason=ExclusionReason.REPORTED
    )
    session.flush()
    return report


REPORTS_SHOWN = 100  # the reporter's page lists the newest this many


def reports_of_user(session: Session, *, user_id: int) -> list[Report]:
    """A signed-in reporter's own reports, newest first (at most REPORTS_SHOWN)."""
    query = (
        select(Report)
        .where(Report.reporter_user_id == user_id)
        .order_by(col(Report.created_at).desc(), col(Report.id).desc())
        .limit(REPORTS_SHOWN)
    )
    return list(session.exec(query))


def report_for_token(session: Session, *, ref: str, token_id: int) -> Report | None:
    """A report by reference, only if this token filed it."""
    query = select(Report).where(Report.ref == ref, Report.token_id == token_id)
    return session.exec(query).first()


def report_stored_conversation(
    session: Session,
    *,
    settings: IntakeSettings,
    conversation: Conversation,
    channel: Channel,
    reporter: Reporter,
    message_ids: Sequence[str],
    category: str,
    statement: Mapping[str, Any],
    good_faith: bool = False,
    source_type: str = "user_notice",
) -> Report:
    """Report a conversation held in Vigil's own store (web form, public notice, demo)."""
    messages = messages_of(session, conversation_id=conversation.id)
    if not messages:  # never freeze an empty snapshot over a case's real evidence
        raise IntakeError("Vigil holds no messages of this conversation")
    return submit_report(
        session,
        settings=settings,
        conversation=conversation,
        document=snapshot_of_stored(conversation, messages),
        message_ids=message_ids,
        category=category,
        source_type=source_type,
        channel=channel,
        reporter=reporter,
        statement=statement,
        good_faith=good_faith,
    )


def report_own_conversation(
    session: Session,
    *,
    settings: IntakeSettings,
    user: User,
    conversation: Conversation,
    message_ids: Sequence[str],
    category: str,
    description: str,
) -> Report:
    """A signed-in user reports their own conversation, or some of its messages."""
    return report_stored_conversation(
        session,
        settings=settings,
        conversation=conversation,
        channel=Channel.WEB,
        reporter=Reporter(key=user.subject, user_id=user.id),
        message_ids=message_ids,
        category=category,
        statement={"description": description},
    )
