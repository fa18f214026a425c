"""What moderation adds to a person's data rights: their reports, and evidence on hold."""

from __future__ import annotations

import json

from sqlmodel import Session, col, select

from access_control.models import User
from core.timeutil import as_utc
from moderation.intake.models import Report, ReportStatus
from privacy.models import Conversation

STATUS_WORDS = {
    ReportStatus.RECEIVED: "received, waiting for review",
    ReportStatus.CLOSED: "closed",
    ReportStatus.ACTION_TAKEN: "decided: action taken",
    ReportStatus.NO_ACTION: "decided: no action",
    ReportStatus.UNDER_APPEAL: "under appeal",
}
HOLD_REASON = (
    "This conversation was reported. The reported messages are kept, sealed, as evidence "
    "for the report's review and for the legal obligations that follow it (EU DSA Art. 16 "
    "and 17); reviewers see them only with a stated reason, and every look is logged."
)


def reported_conversations(session: Session, conversation_ids: list[int]) -> dict[int, str]:
    """Conversations whose report evidence an erasure must keep, with the reason."""
    query = select(Report.conversation_id).where(col(Report.conversation_id).in_(conversation_ids))
    return {conversation_id: HOLD_REASON for conversation_id in set(session.exec(query))}


def reports_filed_by(session: Session, user: User) -> list[dict]:
    """The reports and notices this account filed, with their status (no case internals)."""
    query = (
        select(Report, Conversation.public_ref)
        .join(Conversation, col(Conversation.id) == col(Report.conversation_id))
        .where(Report.reporter_user_id == user.id)
        .order_by(col(Report.id))
    )
    return [
        {
            "reference": report.ref,
            "filed_at": as_utc(report.created_at).isoformat(),
            "channel": report.channel.value,
            "category": report.category,
            "conversation": public_ref,
            "message_ids": json.loads(report.message_ids),
            "status": STATUS_WORDS[report.status],
        }
        for report, public_ref in session.exec(query)
    ]
