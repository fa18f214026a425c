"""The policy: table-driven decisions, separation of duties, validated audited writes."""

from __future__ import annotations

import pytest
from sqlmodel import select

from access_control.guard import authorize
from access_control.journal import AdminEvent
from access_control.models import AccountStatus, PolicyRule
from access_control.permissions import Resource
from access_control.policy import PolicyError, Rule, add_rule, current_version, remove_rule
from core.db import session_scope

# (role, queue, object, action, expected) for a fact-free resource.
TABLE = [
    ("admin", "*", "account", "read", True),
    ("admin", "*", "account", "create", True),
    ("admin", "*", "policy", "write", True),
    ("admin", "general", "content", "read", False),
    ("admin", "*", "access_log", "read", False),
    ("auditor", "*", "access_log", "read", True),
    ("auditor", "*", "access_log", "export", True),
    ("auditor", "*", "admin_event", "read", True),
    ("auditor", "*", "account", "create", False),
    ("auditor", "general", "content", "read", False),
    ("auditor", "*", "role_grant", "write", False),
    ("reviewer:general", "general", "queue", "read", True),
    ("reviewer:general", "child_safety", "queue", "read", False),
    ("reviewer:general", "*", "access_log", "read", False),
    ("reviewer:general", "*", "account", "read", False),
    ("specialist:child_safety", "child_safety", "queue", "read", True),
    ("specialist:child_safety", "general", "queue", "read", True),
    (None, "*", "self_service", "use", True),
    (None, "*", "account", "read", False),
    (None, "general", "queue", "read", False),
]


@pytest.mark.parametrize(("role", "queue", "obj", "act", "expected"), TABLE)
def test_policy_table(app, factory, role, queue, obj, act, expected):
    user = factory.make_user(roles=(role,) if role else ())
    with app.test_request_context():
        assert authorize(user, obj, act, queue=queue) is expected


def test_content_needs_the_claim(app, factory):
    reviewer = factory.make_user(roles=("reviewer:general",))
    mine = Resource(kind="content", assignee=reviewer.subject)
    theirs = Resource(kind="content", assignee="user:999999")
    with app.test_request_context():
        assert authorize(reviewer, mine, "read", queue="general")
        assert not authorize(reviewer, theirs, "read", queue="general")
        assert not authorize(reviewer, mine, "read", queue="child_safety")


@pytest.mark.parametrize("role", ["auditor", "admin"])
def test_auditors_and_admins_never_read_content_even_if_allowed(app, factory, role):
    user = factory.make_user(roles=(role,))
    engine = app.extensions["vigil.engine"]
    with session_scope(engine) as session:  # someone adds a broad allow by mistake
        add_rule(
            session,
            actor=None,
            rule=Rule("p", (role, "*", "content", "*", "any", "allow")),
            reason="mistake",
        )
    claimed = Resource(kind="content", assignee=user.subject)
    with app.test_request_context():
        assert not authorize(user, claimed, "read", queue="general")


def test_suspended_accounts_can_do_nothing(app, factory):
    admin = factory.make_user(roles=("admin",))
    admin.status = AccountStatus.DISABLED
    with app.test_request_context():
        assert not authorize(admin, "account", "read")
        assert not authorize(admin, "self_service", "use")


def test_any_error_inside_a_check_denies(app, factory, monkeypatch):
    admin = factory.make_user(roles=("admin",))
    import access_control.permissions as permissions

    monkeypatch.setitem(permissions.CONDITIONS, "any", lambda sub, obj: 1 / 0)
    with app.test_request_context():
        assert not authorize(admin, "account", "read")


@pytest.mark.parametrize(
    "rule",
    [
        Rule("p", ("wizard", "*", "account", "read", "any", "allow")),
        Rule("p", ("admin", "nowhere", "account", "read", "any", "allow")),
        Rule("p", ("admin", "*", "spaceship", "read", "any", "allow")),
        Rule("p", ("admin", "*", "account", "fly", "any", "allow")),
        Rule("p", ("admin", "*", "account", "read", "whenever", "allow")),
        Rule("p", ("admin", "*", "account", "read", "any", "maybe")),
        Rule("p", ("admin", "*", "account", "read")),
        Rule("g", ("alice", "admin")),
        Rule("g", ("user:1", "superuser")),
        Rule("x", ("a", "b")),
    ],
)
def test_invalid_rows_are_refused_and_nothing_is_written(app, rule):
    engine = app.extensions["vigil.engine"]
    with session_scope(engine) as session:
        before = (current_version(session), len(session.exec(select(PolicyRule)).all()))
        with pytest.raises(PolicyError):
            add_rule(session, actor=None, rule=rule, reason="test")
        assert (current_version(session), len(session.exec(select(PolicyRule)).all())) == before


def test_a_write_is_row_event_and_version_together(app, db):
    engine = app.extensions["vigil.engine"]
    rule = Rule("p", ("qa", "legal", "queue", "read", "any", "allow"))
    with session_scope(engine) as session:
        version = current_version(session)
        add_rule(session, actor=None, rule=rule, reason="legal queue opens")
    db.expire_all()
    assert current_version(db) == version + 1
    event = db.exec(select(AdminEvent).order_by(AdminEvent.id.desc())).first()
    assert (event.event_type, event.reason) == ("policy.rule_added", "legal queue opens")
    assert event.after == '"p, qa, legal, queue, read, any, allow"'
    # A failure after the write rolls everything back: no row, no event, no bump.
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        remove_rule(session, actor=None, rule=rule, reason="oops")
        raise RuntimeError("crash before commit")
    db.rollback()
    assert current_version(db) == version + 1
    assert db.exec(
        select(PolicyRule).where(PolicyRule.v0 == "qa", PolicyRule.v2 == "queue")
    ).first()


def test_removing_one_row_removes_only_that_row(app, db):
    engine = app.extensions["vigil.engine"]
    with session_scope(engine) as session:
        total = len(session.exec(select(PolicyRule)).all())
        remove_rule(
            session,
            actor=None,
            rule=Rule("p", ("auditor", "*", "access_log", "export", "any", "allow")),
            reason="test",
        )
    db.expire_all()
    assert len(db.exec(select(PolicyRule)).all()) == total - 1


def test_enforcer_follows_the_version(app, factory):
    reviewer = factory.make_user(roles=("reviewer:general",))
    engine = app.extensions["vigil.engine"]
    with app.test_request_context():
        assert not authorize(reviewer, "access_log", "read")
    with session_scope(engine) as session:
        add_rule(
            session,
            actor=None,
            rule=Rule("p", ("reviewer:general", "*", "access_log", "read", "any", "allow")),
            reason="test",
        )
    with app.test_request_context():
        assert authorize(reviewer, "access_log", "read")


def test_upgrade_adds_new_baseline_rows_but_respects_removals(app, db):
    from access_control.policy import load_baseline

    engine = app.extensions["vigil.engine"]
    kept = Rule("p", ("auditor", "*", "access_log", "export", "any", "allow"))
    gone = Rule("p", ("admin", "*", "admin_event", "read", "any", "allow"))
    with session_scope(engine) as session:
        assert load_baseline(session) == 0  # already complete
        remove_rule(session, actor=None, rule=gone, reason="we decided so")
        session.delete(
            session.exec(
                select(PolicyRule).where(PolicyRule.v0 == "auditor", PolicyRule.v3 == "export")
            ).one()
        )
    with session_scope(engine) as session:
        assert load_baseline(session) == 1  # the row that vanished without a decision
    rows = {(r.ptype, *r.values()) for r in db.exec(select(PolicyRule))}
    assert ("p", *kept.values) in rows
    assert ("p", *gone.values) not in rows
