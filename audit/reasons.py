"""Reason codes, actions and decisions of the access log, declared once for every package."""

from __future__ import annotations

import enum


class ReasonCode(enum.StrEnum):
    """Why staff looked at content (modelled on access-transparency justifications)."""

    ASSIGNED_REVIEW = "ASSIGNED_REVIEW"
    SECOND_REVIEW = "SECOND_REVIEW"
    APPEAL_REVIEW = "APPEAL_REVIEW"
    SPECIALIST_ESCALATION = "SPECIALIST_ESCALATION"
    BREAK_GLASS = "BREAK_GLASS"
    LEGAL_REQUEST = "LEGAL_REQUEST"
    QA_SAMPLE = "QA_SAMPLE"


class AccessAction(enum.StrEnum):
    """What was done with content: open a case, reveal a blurred message, export evidence."""

    OPEN = "open"
    REVEAL = "reveal"
    EXPORT = "export"


class Decision(enum.StrEnum):
    ALLOWED = "allowed"
    DENIED = "denied"


# Plain-language labels for auditor pages and the end user's report status page.
REASON_LABELS = {
    ReasonCode.ASSIGNED_REVIEW: "Review by the assigned moderator",
    ReasonCode.SECOND_REVIEW: "Second review of a decision",
    ReasonCode.APPEAL_REVIEW: "Review of an appeal",
    ReasonCode.SPECIALIST_ESCALATION: "Escalation to a specialist",
    ReasonCode.BREAK_GLASS: "Emergency access, approved by a second person",
    ReasonCode.LEGAL_REQUEST: "Legal request",
    ReasonCode.QA_SAMPLE: "Quality assurance sample",
}
