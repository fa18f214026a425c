"""The policy service: validated, audited, versioned writes; fresh enforcers per version."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import casbin
from casbin import persist
from flask import g, has_request_context
from sqlmodel import Session, select

from access_control.journal import AdminEvent, EventType, record_event
from access_control.models import PolicyRule, PolicyState, User
from access_control.permissions import (
    ACTIONS,
    CONDITIONS,
    OBJECTS,
    QUEUES,
    ROLE_CATALOGUE,
    Resource,
    Subject,
    is_role,
)
from core.timeutil import utcnow

log = logging.getLogger(__name__)
MODEL_PATH = Path(__file__).with_name("casbin_model.conf")
BASELINE_PATH = Path(__file__).with_name("baseline_policy.csv")


class PolicyError(ValueError):
    """A policy row or grant that Vigil refuses to write."""


@dataclass(frozen=True)
class Rule:
    """A policy row as data: ptype plus values."""

    ptype: str
    values: tuple[str, ...]

    def describe(self) -> str:
        """The row as Casbin's CSV would show it."""
        return ", ".join((self.ptype, *self.values))


def validate(rule: Rule) -> None:
    """Raise PolicyError unless the row names only known roles, queues, objects and actions."""
    if rule.ptype == "p":
        if len(rule.values) != 6:
            raise PolicyError("a p row has sub, queue, obj, act, cond, eft")
        sub, queue, obj, act, cond, eft = rule.values
        checks = [
            (sub == "*" or is_role(sub), f"unknown role {sub!r}"),
            (queue == "*" or queue in QUEUES, f"unknown queue {queue!r}"),
            (obj == "*" or obj in OBJECTS, f"unknown object {obj!r}"),
            (act == "*" or act in ACTIONS, f"unknown action {act!r}"),
            (cond in CONDITIONS, f"unknown condition {cond!r}"),
            (eft in ("allow", "deny"), "effect must be allow or deny"),
        ]
    elif rule.ptype == "g":
        if len(rule.values) != 2:
            raise PolicyError("a g row has a subject and a role")
        user, role = rule.values
        checks = [
            (user.startswith("user:") and user[5:].isdigit(), f"bad subject {user!r}"),
            (is_role(role), f"unknown role {role!r}"),
        ]
    else:
        raise PolicyError(f"unknown ptype {rule.ptype!r}")
    for ok, message in checks:
        if not ok:
            raise PolicyError(message)


COLUMNS = ("v0", "v1", "v2", "v3", "v4", "v5")


def _padded(rule: Rule) -> tuple[str, ...]:
    return (*rule.values, *[""] * (len(COLUMNS) - len(rule.values)))


def _find(session: Session, rule: Rule) -> PolicyRule | None:
    query = select(PolicyRule).where(PolicyRule.ptype == rule.ptype)
    for column, value in zip(COLUMNS, _padded(rule), strict=True):
        query = query.where(getattr(PolicyRule, column) == value)
    return session.exec(query).first()


def _bump_version(session: Session) -> int:
    state = session.get(PolicyState, 1, with_for_update=True)
    if state is None:
        state = PolicyState(id=1, version=0)
    state.version += 1
    state.updated_at = utcnow()
    session.add(state)
    if has_request_context():
        g.pop("vigil_policy_version", None)  # this request's own change applies to it
    return state.version


def _journal_and_bump(
    session: Session, *, actor: User | None, rule: Rule, reason: str, added: bool
) -> None:
    """The event and the version bump every policy write carries (one transaction)."""
    if rule.ptype == "g":
        event = EventType.ROLE_GRANTED if added else EventType.ROLE_REVOKED
    else:
        event = EventType.POLICY_RULE_ADDED if added else EventType.POLICY_RULE_REMOVED
    change = {"after" if added else "before": rule.describe()}
    target_type, target_label = "policy_rule", rule.describe()
    if rule.ptype == "g":  # a role grant reads as a person and a role, not a Casbin row
        subject, role = rule.values
        person = session.get(User, int(subject.split(":", 1)[1]))
        target_type = "account"
        target_label = f"{person.label if person else subject} as {role}"
    record_event(
        session,
        event_type=event,
        actor=actor,
        target_type=target_type,
        target_id=rule.values[0],
        target_label=target_label,
        reason=reason,
        **change,
    )
    _bump_version(session)
    session.flush()


def note_bulk_grants(session: Session, *, count: int, reason: str) -> None:
    """Journal role grants written in bulk (`seed-bulk`) as one event and bump the version."""
    record_event(
        session,
        event_type=EventType.ROLE_GRANTED,
        actor=None,
        target_type="account",
        target_label=f"{count:,} seeded accounts",
        reason=reason,
        after={"bulk_grants": count},
    )
    _bump_version(session)


def add_rule(session: Session, *, actor: User | None, rule: Rule, reason: str) -> PolicyRule:
    """Validate and write one row, record the event and bump the version (caller commits)."""
    validate(rule)
    if _find(session, rule) is not None:
        raise PolicyError(f"rule already present: {rule.describe()}")
    row = PolicyRule(ptype=rule.ptype, **dict(zip(COLUMNS, _padded(rule), strict=True)))
    session.add(row)
    _journal_and_bump(session, actor=actor, rule=rule, reason=reason, added=True)
    return row


def remove_rule(session: Session, *, actor: User | None, rule: Rule, reason: str) -> None:
    """Delete exactly one row, record the event and bump the version (caller commits)."""
    row = _find(session, rule)
    if row is None:
        raise PolicyError(f"no such rule: {rule.describe()}")
    session.delete(row)
    _journal_and_bump(session, actor=actor, rule=rule, reason=reason, added=False)


def _baseline_rules() -> list[Rule]:
    rules = []
    for line in BASELINE_PATH.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            ptype, *values = (part.strip() for part in line.split(","))
            rules.append(Rule(ptype, tuple(values)))
    return rules


def load_baseline(session: Session) -> int:
    """Add baseline rows that are missing, through the service (run by `db upgrade`).

    A row an admin removed on purpose (a policy.rule_removed event names it) stays
    removed, so upgrades bring new baseline rows without undoing local decisions.
    """
    removed = set(
        session.exec(
            select(AdminEvent.target_label).where(
                AdminEvent.event_type == EventType.POLICY_RULE_REMOVED
            )
        )
    )
    count = 0
    for rule in _baseline_rules():
        if _find(session, rule) is None and rule.describe() not in removed:
            add_rule(session, actor=None, rule=rule, reason="baseline policy")
            count += 1
    return count


def offered_roles(session: Session) -> list[str]:
    """Catalogue roles the policy has rows for, in catalogue order (a role without rows
    would grant nothing, so it is offered nowhere)."""
    named = set(session.exec(select(PolicyRule.v0).where(PolicyRule.ptype == "p")))
    return [role for role in ROLE_CATALOGUE if role in named]


def current_version(session: Session) -> int:
    """The policy version in the database (0 before any write)."""
    return session.exec(select(PolicyState.version).where(PolicyState.id == 1)).first() or 0


class _RowsAdapter(persist.Adapter):
    """Hands rows already read from the database to Casbin; never writes."""

    def __init__(self, rows: list[PolicyRule]) -> None:
        self._rows = rows

    def load_policy(self, model) -> None:
        for row in self._rows:
            persist.load_policy_line(", ".join((row.ptype, *row.values())), model)


def _condition(name: str, sub: Subject, obj: Resource) -> bool:
    return bool(CONDITIONS[name](sub, obj))


def build_enforcer(rows: list[PolicyRule]) -> casbin.Enforcer:
    """A fresh enforcer over these rows (cheaper than load_policy on a live one)."""
    enforcer = casbin.Enforcer(str(MODEL_PATH), _RowsAdapter(rows))
    enforcer.add_function("cond", _condition)
    return enforcer


@dataclass(frozen=True)
class _Row:
    sub: str
    queue: str
    obj: str
    act: str
    cond: str
    eft: str


class DecisionTable:
    """The policy compiled for plain-Python decisions, equal to the enforcer's by test
    (tests/access_control/test_policy_fast_path.py).

    The matcher's static part (object, action, queue, role) is looked up once per
    (roles, object, action, queue) and cached; only the named conditions of the matching
    rows run per request, on the request's facts. Deny overrides allow, as in the model.
    """

    def __init__(self, enforcer: casbin.Enforcer) -> None:
        self.rows = tuple(_Row(*values[:6]) for values in enforcer.get_policy())
        links: dict[str, set[str]] = {}
        for name, role, *_rest in enforcer.get_grouping_policy():
            links.setdefault(name, set()).add(role)
        self._links = links
        # Subjects a row names directly (rare): only they key the cache by themselves.
        self._direct = {row.sub for row in self.rows if not is_role(row.sub) and row.sub != "*"}
        self._names: dict[str, frozenset[str]] = {}
        self._plans: dict[tuple, tuple[tuple[str, ...], tuple[str, ...]]] = {}

    def _closure(self, subject: str) -> frozenset[str]:
        """The roles `subject` holds (transitively), plus itself when a row names it."""
        names = self._names.get(subject)
        if names is None:
            seen, todo = set(), [subject]
            while todo:
                for role in self._links.get(todo.pop(), ()):
                    if role not in seen:
                        seen.add(role)
                        todo.append(role)
            if subject in self._direct:
                seen.add(subject)
            names = self._names[subject] = frozenset(seen)
        return names

    def _plan(self, names: frozenset[str], kind: str, act: str, queue: str):
        key = (names, kind, act, queue)
        plan = self._plans.get(key)
        if plan is None:
            matching = [
                row
                for row in self.rows
                if row.obj in ("*", kind)
                and row.act in ("*", act)
                and row.queue in ("*", queue)
                and (row.sub == "*" or row.sub in names)
            ]
            allow = tuple(dict.fromkeys(r.cond for r in matching if r.eft == "allow"))
            deny = tuple(dict.fromkeys(r.cond for r in matching if r.eft == "deny"))
            plan = self._plans[key] = (allow, deny)
        return plan

    def roles(self, subject: str) -> frozenset[str]:
        """The roles `subject` holds in this policy version (no database read)."""
        return self._closure(subject) - {subject}

    def decide(self, sub: Subject, queue: str, obj: Resource, act: str) -> bool:
        """What the enforcer would answer for (sub, queue, obj, act)."""
        allow, deny = self._plan(self._closure(sub.id), obj.kind, act, queue)
        if any(CONDITIONS[cond](sub, obj) for cond in deny):
            return False
        return any(CONDITIONS[cond](sub, obj) for cond in allow)


class EnforcerHolder:
    """Per-process cache: rebuild and swap when the database version moves.

    The version is read at most once per request (remembered on flask.g): a policy
    change reaches every process, on any host, by its next request."""

    def __init__(self) -> None:
        self.version = -1
        self.enforcer: casbin.Enforcer | None = None
        self.table: DecisionTable | None = None
        self._lock = threading.Lock()

    def _version(self, session: Session) -> int:
        if not has_request_context():
            return current_version(session)
        seen = g.get("vigil_policy_version")
        if seen is None:
            seen = g.vigil_policy_version = current_version(session)
        return seen

    def get(self, session: Session) -> casbin.Enforcer:
        """The enforcer for the database's current policy version (the source of truth)."""
        self.decisions(session)
        return self.enforcer

    def decisions(self, session: Session) -> DecisionTable:
        """The compiled decision table for the current policy version."""
        version = self._version(session)
        if version != self.version or self.table is None:
            rows = list(session.exec(select(PolicyRule).order_by(PolicyRule.id)))
            fresh = build_enforcer(rows)
            table = DecisionTable(fresh)
            with self._lock:
                self.enforcer, self.table, self.version = fresh, table, version
        return self.table


def subject_for(user: User) -> Subject:
    """The frozen request subject for an account."""
    return Subject(id=user.subject, status=str(user.status))


def check(
    holder: EnforcerHolder,
    session: Session,
    user: User | None,
    obj: str | Resource,
    act: str,
    queue: str = "*",
) -> bool:
    """Decide; any error inside the check is a denial."""
    if user is None or getattr(user, "id", None) is None:
        return False
    resource = obj if isinstance(obj, Resource) else Resource(kind=obj)
    try:
        return holder.decisions(session).decide(subject_for(user), queue, resource, act)
    except Exception:
        log.exception("authorization check failed; denying")
        return False


def roles_of(session: Session, user: User) -> list[str]:
    """Roles granted to an account, read from the g rows."""
    rows = session.exec(
        select(PolicyRule.v1).where(PolicyRule.ptype == "g", PolicyRule.v0 == user.subject)
    )
    return sorted(rows)
