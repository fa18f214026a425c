"""Every object, action, condition, role and queue the policy may name, declared once."""

from __future__ import annotations

import enum
import re
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
    "write",
)

STAFF_ROLE_PATTERN = re.compile(r"^(admin|auditor|qa|(reviewer|specialist):(?P<queue>[a-z_]+))$")


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
    "break_glass": lambda sub, obj: sub.id in obj.break_glass,
    "legal_request": lambda sub, obj: sub.id in obj.legal_request,
    "qa_sample": lambda sub, obj: sub.id in obj.qa_sample,
    "self": lambda sub, obj: obj.owner == sub.id,
    "suspended": lambda sub, obj: sub.status != AccountStatus.ACTIVE,
}


def is_role(name: str) -> bool:
    """True for admin, auditor, qa and reviewer:/specialist: roles on a known queue."""
    match = STAFF_ROLE_PATTERN.match(name)
    return bool(match) and (match.group("queue") is None or match.group("queue") in QUEUES)


def all_roles() -> list[str]:
    """Every grantable role, for forms and validation."""
    scoped = [f"{kind}:{queue}" for kind in ("reviewer", "specialist") for queue in QUEUES]
    return ["admin", "auditor", "qa", *scoped]
