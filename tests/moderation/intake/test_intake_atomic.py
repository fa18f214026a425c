"""Nothing is half-stored: report, case, evidence, key and training exclusion land together."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

import privacy.conversations
from moderation.intake.models import Case, CaseKey, EvidenceVersion, Report
from privacy.models import Conversation, TrainingExclusion
from tests.factories import make_conversation
from tests.helpers import post_form, report_body

TABLES = (Report, Case, EvidenceVersion, CaseKey, TrainingExclusion)


class Injected(RuntimeError):
    """The failure the test injects."""


@pytest.fixture
def fail_after_report_insert(monkeypatch):
    """Replace the exclusion write with a failure, after checking the report row is in."""
    seen = {}

    def failing_exclusion(session: Session, **_kwargs) -> None:
        # The report, case and evidence rows have been INSERTed in this transaction...
        seen["reports"] = len(session.exec(select(Report)).all())
        seen["evidence"] = len(session.exec(select(EvidenceVersion)).all())
        raise Injected("exclusion write failed")  # ...and now the transaction fails.

    monkeypatch.setattr(privacy.conversations, "exclude_from_training", failing_exclusion)
    return seen


def _empty(db: Session) -> None:
    db.expire_all()
    for table in TABLES:
        assert db.exec(select(table)).all() == [], table.__name__


def test_api_failure_after_the_report_insert_leaves_nothing(api, db, fail_after_report_insert):
    body = report_body()
    response = api.post(body, **{"Idempotency-Key": "atomic"})
    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    assert fail_after_report_insert == {"reports": 1, "evidence": 1}
    _empty(db)
    # Even the conversation row the API created in the same transaction is gone.
    assert db.exec(select(Conversation)).all() == []


def test_web_failure_after_the_report_insert_leaves_nothing(
    app, client, factory, db, fail_after_report_insert
):
    user = factory.make_user()
    conversation = make_conversation(app, user)
    factory.login(client, user)
    url = f"/conversations/{conversation.id}/report"
    response = post_form(client, url, {"category": "scam_fraud"}, token_from=url)
    assert response.status_code == 500
    assert fail_after_report_insert["reports"] == 1
    _empty(db)


def test_the_exclusion_is_written_with_the_report(api, db):
    assert api.post(report_body()).status_code == 201
    report = db.exec(select(Report)).one()
    exclusion = db.exec(select(TrainingExclusion)).one()
    assert (exclusion.conversation_id, exclusion.reason) == (report.conversation_id, "reported")
    # The exclusion row carries nothing else: no category, label or evidence.
    assert set(TrainingExclusion.model_fields) == {"conversation_id", "reason"}
