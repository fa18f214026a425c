"""Policy changes from the admin pages and the command line, through the policy service
(validated, journaled, versioned). A change that widens access to content or to the logs
waits for a second admin; the operator's command line applies directly."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from access_control.accounts import AccountError
from access_control.journal import EventType, record_event
from access_control.models import PolicyRequest, RequestState, User
from access_control.policy import PolicyError, Rule, add_rule, remove_rule, validate
from core.timeutil import as_utc

# Objects whose wider access needs four eyes: content, who reported it, and the logs.
GUARDED = frozenset({"*", "content", "reporter_identity", "access_log", "admin_event"})


@dataclass(frozen=True)
class Change:
    verb: str  # add or remove
    rule: Rule

    @property
    def widens(self) -> bool:
        """Adding an allow, or removing a deny, on a guarded object."""
        obj, eft = self.rule.values[2], self.rule.values[5]
        effect = "allow" if self.verb == "add" else "deny"
        return obj in GUARDED and eft == effect

    def describe(self) -> str:
        return ("+ " if self.verb == "add" else "- ") + self.rule.describe()


def parse_change(verb: str, row: str) -> Change:
    """A change from "add"/"remove" and a row "p, sub, queue, obj, act, cond, eft"."""
    if verb not in ("add", "remove"):
        raise PolicyError("Choose add or remove.")
    parts = [part.strip() for part in row.split(",")]
    if len(row) > 400 or not parts or parts[0] != "p":
        raise PolicyError("Give a p row: p, role, queue, object, action, condition, effect.")
    rule = Rule("p", tuple(parts[1:]))
    validate(rule)
    return Change(verb, rule)


def apply_change(session: Session, *, actor: User | None, change: Change, reason: str) -> None:
    """Write the change now (the operator, or an approved request); caller commits."""
    verb = add_rule if change.verb == "add" else remove_rule
    verb(session, actor=actor, rule=change.rule, reason=reason)


def propose(
    session: Session,
    *,
    actor: User,
    change: Change,
    reason: str,
    lifetime: timedelta,
    now: datetime,
) -> PolicyRequest | None:
    """Apply a narrowing change at once; queue a widening one for a second admin."""
    reason = reason.strip()
    if not reason or len(reason) > 500:
        raise AccountError("Say why (1 to 500 characters).")
    if not change.widens:
        apply_change(session, actor=actor, change=change, reason=reason)
        return None
    request = PolicyRequest(
        verb=change.verb,
        row=change.rule.describe(),
        reason=reason,
        requested_by=actor.id,
        requested_by_label=actor.label,
        requested_at=now,
        expires_at=now + lifetime,
    )
    session.add(request)
    session.flush()
    record_event(
        session,
        event_type=EventType.POLICY_CHANGE_REQUESTED,
        actor=actor,
        target_type="policy_rule",
        target_id=request.id,
        target_label=change.describe(),
        reason=reason,
    )
    return request


def pending_policy_requests(session: Session, *, now: datetime) -> list[PolicyRequest]:
    rows = session.exec(
        select(PolicyRequest)
        .where(PolicyRequest.state == RequestState.PENDING)
        .order_by(col(PolicyRequest.id))
    ).all()
    live = []
    for row in rows:
        if as_utc(row.expires_at) <= now:
            row.state = RequestState.EXPIRED
            session.add(row)
        else:
            live.append(row)
    return live


def decide_policy_request(
    session: Session, *, actor: User, request_id: int, approve: bool, now: datetime
) -> PolicyRequest:
    """A second admin approves (the change is written now) or refuses."""
    row = session.get(PolicyRequest, request_id, with_for_update=True)
    if row is None or row.state != RequestState.PENDING or as_utc(row.expires_at) <= now:
        raise AccountError("That change is not waiting for approval.", 409)
    if actor.id == row.requested_by:
        raise AccountError("The admin who proposed it cannot approve; a second admin must.", 403)
    change = parse_change(row.verb, row.row)
    if approve:
        apply_change(
            session,
            actor=actor,
            change=change,
            reason=f"{row.reason} (asked by {row.requested_by_label})",
        )
    row.state = RequestState.APPROVED if approve else RequestState.REFUSED
    row.decided_by_label, row.decided_at = actor.label, now
    session.add(row)
    record_event(
        session,
        event_type=EventType.POLICY_CHANGE_DECIDED,
        actor=actor,
        target_type="policy_rule",
        target_id=row.id,
        target_label=change.describe(),
        reason=str(row.state),
    )
    return row
