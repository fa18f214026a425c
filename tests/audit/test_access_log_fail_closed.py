"""Fail closed: content only after its ALLOWED entry committed; every denial logged first.

Until the reviewer case page exists (a later issue) the content path is a test-only
blueprint that calls the real guard and the real audit.gate helpers, exactly as the
case page will.
"""

from __future__ import annotations

import pytest
from flask import Blueprint, abort, current_app
from flask_login import current_user
from sqlalchemy import text
from sqlmodel import Session, select

from access_control.guard import authorize, signed_in
from access_control.permissions import Resource
from audit.gate import record_denial, reveal
from audit.models import AccessEntry
from audit.reasons import AccessAction, ReasonCode
from core.db import get_session, is_postgres, read_only

CONTENT = "[simulated extremist recruitment message]"

content_bp = Blueprint("test_content", __name__)


def _committed(seq: int) -> bool:
    """Can another connection see the entry? Only a committed one is visible."""
    engine = read_only(current_app.extensions["vigil.engine"])
    with Session(engine) as other:
        return other.get(AccessEntry, seq) is not None


@content_bp.route("/_test/cases/<case_id>/content")
@signed_in
def case_content(case_id: str):
    user, db = current_user._get_current_object(), get_session()
    facts = {
        "actor": user,
        "action": AccessAction.OPEN,
        "case_id": case_id,
        "conversation_id": f"conv-{case_id}",
        "evidence_version": 1,
    }
    resource = Resource(kind="content", assignee=current_app.config.get("ASSIGNEE", ""))
    if not authorize(user, resource, "read", queue="general"):
        record_denial(db, reason_code=ReasonCode.ASSIGNED_REVIEW, **facts)
        abort(403)  # the view decides the answer; the gate only records
    entry = reveal(db, reason_code=ReasonCode.ASSIGNED_REVIEW, **facts)
    current_app.config["SEEN_COMMITTED"] = _committed(entry.seq)
    return CONTENT


@pytest.fixture
def content_app(app):
    app.register_blueprint(content_bp)
    return app


def _entries(db) -> list[AccessEntry]:
    db.rollback()
    return list(db.exec(select(AccessEntry).order_by(AccessEntry.seq)))


def _break_appends(engine) -> None:
    """Make every INSERT into the log fail inside the database (a full disk, a lost grant)."""
    with engine.connect() as conn:
        if is_postgres(engine):
            conn.execute(
                text(
                    "CREATE FUNCTION fail_append() RETURNS trigger AS $$ "
                    "BEGIN RAISE EXCEPTION 'log storage unavailable'; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER fail_append BEFORE INSERT ON access_entry "
                    "FOR EACH ROW EXECUTE FUNCTION fail_append()"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE TRIGGER fail_append BEFORE INSERT ON access_entry "
                    "BEGIN SELECT RAISE(ABORT, 'log storage unavailable'); END"
                )
            )
        conn.commit()


def test_the_assigned_reviewer_sees_content_only_after_the_entry_committed(
    content_app, client, factory, db
):
    reviewer = factory.login_as(client, "reviewer:general")
    content_app.config["ASSIGNEE"] = reviewer.subject
    response = client.get("/_test/cases/17/content")
    assert response.status_code == 200 and CONTENT in response.get_data(as_text=True)
    assert content_app.config["SEEN_COMMITTED"] is True
    (entry,) = _entries(db)
    assert (entry.decision, entry.actor_id, entry.case_id) == ("allowed", reviewer.id, "17")
    assert entry.request_id == response.headers["X-Request-ID"]


@pytest.mark.parametrize("roles", [("reviewer:general",), ("auditor",), ("admin",), ()])
def test_each_denial_leaves_exactly_one_denied_entry_and_no_content(
    content_app, client, factory, db, roles
):
    someone = factory.login_as(client, *roles) if roles else factory.make_user()
    if not roles:
        factory.login(client, someone)
    content_app.config["ASSIGNEE"] = "user:999999"  # the case is someone else's
    response = client.get("/_test/cases/17/content")
    assert response.status_code == 403
    assert CONTENT not in response.get_data(as_text=True)
    (entry,) = _entries(db)
    assert (entry.decision, entry.actor_id, entry.case_id) == ("denied", someone.id, "17")
    client.get("/_test/cases/17/content")
    assert [e.decision for e in _entries(db)] == ["denied", "denied"]  # one per attempt


def test_when_the_append_fails_the_reviewer_gets_503_and_no_content(
    content_app, client, factory, db
):
    reviewer = factory.login_as(client, "reviewer:general")
    content_app.config["ASSIGNEE"] = reviewer.subject
    _break_appends(content_app.extensions["vigil.engine"])
    response = client.get("/_test/cases/17/content")
    assert response.status_code == 503
    body = response.get_data(as_text=True)
    assert CONTENT not in body and "simulated" not in body
    assert _entries(db) == []


def test_when_the_commit_fails_the_reviewer_gets_503_and_no_content(
    content_app, client, factory, db, monkeypatch
):
    reviewer = factory.login_as(client, "reviewer:general")
    content_app.config["ASSIGNEE"] = reviewer.subject

    def lost_connection(self):
        raise ConnectionError("server closed the connection unexpectedly")

    monkeypatch.setattr(Session, "commit", lost_connection)
    response = client.get("/_test/cases/17/content")
    monkeypatch.undo()
    assert response.status_code == 503
    assert CONTENT not in response.get_data(as_text=True)
    assert _entries(db) == []


def test_a_denial_that_cannot_be_logged_is_still_a_refusal(content_app, client, factory, db):
    factory.login_as(client, "reviewer:general")
    content_app.config["ASSIGNEE"] = "user:999999"
    _break_appends(content_app.extensions["vigil.engine"])
    response = client.get("/_test/cases/17/content")
    assert response.status_code == 503
    assert CONTENT not in response.get_data(as_text=True)
    assert _entries(db) == []
