"""The compiled decision table answers exactly what pycasbin's enforcer answers, on every
request of a generated space: every role set x object x action x queue x every
combination of the facts the matching rows' conditions read."""

from __future__ import annotations

import itertools

import pytest

from access_control.models import AccountStatus, PolicyRule
from access_control.permissions import ACTIONS, OBJECTS, QUEUES, ROLE_CATALOGUE, Resource, Subject
from access_control.policy import DecisionTable, _baseline_rules, build_enforcer

ME, OTHER = "user:1", "user:2"
# For each condition: the Resource/Subject facts that make it true or false for ME.
FACTS = {
    "assigned": {"assignee": (ME, "", OTHER)},
    "unassigned": {"assignee": (ME, "", OTHER)},
    "own_report": {"reporter": (ME, OTHER)},
    "involved": {"involved": ((ME,), (OTHER,))},
    "appeal_decider": {"involved": ((ME,), (OTHER,)), "stage": ("appeal", "review")},
    "break_glass": {"break_glass": ((ME,), ())},
    "legal_request": {"legal_request": ((ME,), ())},
    "qa_sample": {"qa_sample": ((ME,), ())},
    "self": {"owner": (ME, OTHER)},
    "suspended": {"status": (AccountStatus.ACTIVE, AccountStatus.DISABLED)},
    "any": {},
}


def _rows(extra=()) -> list[PolicyRule]:
    columns = ("v0", "v1", "v2", "v3", "v4", "v5")
    rules = [*_baseline_rules(), *extra]
    return [PolicyRule(ptype=r.ptype, **dict(zip(columns, r.values, strict=True))) for r in rules]


def _grants(roles) -> list[PolicyRule]:
    return [PolicyRule(ptype="g", v0=ME, v1=role) for role in roles]


def _variants(conds: set[str]):
    """Every combination of the facts the given conditions read."""
    axes: dict[str, tuple] = {}
    for cond in conds:
        axes.update(FACTS[cond])
    names = sorted(axes)
    for values in itertools.product(*(axes[name] for name in names)):
        facts = dict(zip(names, values, strict=True))
        status = facts.pop("status", AccountStatus.ACTIVE)
        yield Subject(id=ME, status=str(status)), facts


ROLE_SETS = [(), *[(role,) for role in ROLE_CATALOGUE], tuple(ROLE_CATALOGUE)]
ROLE_SETS += [("reviewer:general", "specialist:child_safety"), ("admin", "auditor")]


@pytest.mark.parametrize("roles", ROLE_SETS, ids=lambda r: "+".join(r) or "no-role")
def test_the_fast_path_agrees_with_the_enforcer_everywhere(roles):
    # One row that names a person directly, and a deny row, so both paths are exercised.
    from access_control.policy import Rule

    extra = [
        Rule("p", (ME, "general", "queue", "read", "any", "allow")),
        Rule("p", ("*", "*", "content", "read", "suspended", "deny")),
    ]
    enforcer = build_enforcer([*_rows(extra), *_grants(roles)])
    table = DecisionTable(enforcer)
    mine = {ME, *roles}
    rows = [row for row in enforcer.get_policy() if row[0] == "*" or row[0] in mine]
    checked = allowed = 0
    for kind, act, queue in itertools.product(OBJECTS, ACTIONS, ("*", *QUEUES)):
        # The facts worth varying: those read by the conditions of rows that could match
        # (a row that cannot match reads nothing); one plain request otherwise.
        conds = {
            cond
            for sub, q, obj, a, cond, _eft in rows
            if obj in ("*", kind) and a in ("*", act) and q in ("*", queue)
        }
        for sub, facts in _variants(conds):
            obj = Resource(kind=kind, **facts)
            expected = bool(enforcer.enforce(sub, queue, obj, act))
            assert table.decide(sub, queue, obj, act) == expected, (roles, kind, act, queue, facts)
            checked += 1
            allowed += expected
    assert checked >= len(OBJECTS) * len(ACTIONS) * (len(QUEUES) + 1)
    assert allowed > 0  # every role set may at least use its own pages
