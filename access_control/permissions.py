"""Every object, action, condition, role and queue the policy may name, declared once."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from access_control.models import AccountStatus


class Queue(enum.StrEnum):
    """Queues a role can be scoped to and a case can sit in. Later issues add members here."""

    APPEALS = "appeals"
    CHILD_SAFETY = "child_safety"
    ESCALATIONS = "escalations"
    GENERAL = "general"
    LEGAL = "legal"


QUEUES: tuple[Queue, ...] = tuple(Queue)

# Object kinds a policy row or @requires can name.
OBJECTS = (
    "access_log",
    "account",
    "admin_event",
    "appeal",
    "break_glass",
    "case",
    "content",
    "conversation",
    "legal_hold",
    "legal_request",
    "policy",
    "qa_sample",
    "queue",
    "report",
    "reporter_identity",
    "role_grant",
    "self_service",
    "transparency",
    "workspace",
)

ACTIONS = (
    "approve",
    "claim",
    "confirm",
    "create",
    "disable",
    "export",
    "read",
    "reassign",
    "request",
    "use",
    "verify",
    "write",
)

# The role catalogue, declared once: every role Vigil knows, with what it is for. A role is
# offered (forms, CLI help) only while the policy has rows for it (policy.offered_roles).
ROLE_CATALOGUE: dict[str, str] = {
    "admin": "Manages accounts, role requests and the policy; never sees content.",
    "auditor": "Reads the access log, the journal and the transparency figures.",
    "qa": "Draws random samples of decided cases and reads them, read-only.",
    "reviewer:general": "Claims and decides cases in the general queue.",
    "reviewer:appeals": "Decides appeals against decisions they took no part in.",
    "specialist:child_safety": (
        "Works child-safety and escalated cases; confirms four-eyes decisions there."
    ),
    "specialist:general": "Confirms or overturns four-eyes decisions in the general queue.",
    "specialist:legal": (
        "Works the legal queue, registers legal requests, places and lifts legal holds, "
        "and may see notifiers' names."
    ),
}


@dataclass(frozen=True)
class Subject:
    """Who asks: a Casbin subject name and the account status."""

    id: str
    status: str


@dataclass(frozen=True)
class Resource:
    """What is asked about, with every fact set (a missing attribute would raise)."""

    kind: str
    owner: str = ""
    assignee: str = ""
    reporter: str = ""
    involved: tuple[str, ...] = field(default=())  # earlier deciders of the case
    stage: str = ""  # a case's stage: review, second_review or appeal
    break_glass: tuple[str, ...] = field(default=())
    legal_request: tuple[str, ...] = field(default=())  # holders of an open legal request
    qa_sample: tuple[str, ...] = field(default=())  # QA staff who drew this case


# Conditions a policy row may carry; each reads only the request's facts.
CONDITIONS = {
    "any": lambda sub, obj: True,
    "assigned": lambda sub, obj: obj.assignee == sub.id,
    "unassigned": lambda sub, obj: obj.assignee == "",
    "own_report": lambda sub, obj: obj.reporter == sub.id,
    "involved": lambda sub, obj: sub.id in obj.involved,
    "appeal_decider": lambda sub, obj: obj.stage == "appeal" and sub.id in obj.involved,
    "break_glass": lambda sub, obj: sub.id in obj.break_glass,
    "legal_request": lambda sub, obj: sub.id in obj.legal_request,
    "qa_sample": lambda sub, obj: sub.id in obj.qa_sample,
    "self": lambda sub, obj: obj.owner == sub.id,
    "suspended": lambda sub, obj: sub.status != AccountStatus.ACTIVE,
}


def is_role(name: str) -> bool:
    """True for a role of the catalogue."""
    return name in ROLE_CATALOGUE


def all_roles() -> list[str]:
    """Every role of the catalogue (validation); forms offer policy.offered_roles()."""
    return list(ROLE_CATALOGUE)
