"""POST/GET /api/v1/reports: the chat backend's way in."""

from __future__ import annotations

import json
import re

from sqlmodel import select

from access_control.models import ServiceToken
from access_control.tokens import hash_token
from core.db import session_scope
from moderation.intake.models import Case, EvidenceVersion, Report
from privacy.models import Conversation, Message, TrainingExclusion
from tests.factories import make_token
from tests.helpers import Api, report_body

REF = re.compile(r"^VR-[0-9A-HJKMNP-TV-Z]{10}$")


def test_report_is_received_with_a_reference_and_location(api, db):
    body = report_body(description="they asked for my bank login")
    response = api.post(body)
    assert response.status_code == 201, response.get_json()
    receipt = response.get_json()
    assert REF.match(receipt["reference"])
    assert receipt["status"] == "received"
    assert receipt["message_ids"] == ["m1"]
    assert response.headers["Location"] == f"/api/v1/reports/{receipt['reference']}"
    # Only what the reporter may see: no case, no reviewers, no other reporters.
    assert set(receipt) == {"reference", "status", "received_at", "category", "message_ids"}

    report = db.exec(select(Report)).one()
    assert (report.channel, report.source_type, report.reporter_key) == (
        "api",
        "user_notice",
        "api:reporter-1",
    )
    conversation = db.get(Conversation, report.conversation_id)
    assert conversation.external_id == body["conversation"]["id"]
    assert conversation.owner_ref == "owner-1" and conversation.owner_id is None
    # The pushed text lives only in sealed evidence: no message rows, no title.
    assert db.exec(select(Message)).all() == []
    assert conversation.title == ""
    evidence = db.exec(select(EvidenceVersion)).one()
    assert evidence.message_count == 2 and evidence.content_hash.startswith("sha256:")
    assert db.exec(select(TrainingExclusion)).one().conversation_id == conversation.id
    assert db.exec(select(Case)).one().report_count == 1


def test_the_filing_token_reads_the_status_and_no_other_token_can(app, client, api):
    ref = api.post(report_body()).get_json()["reference"]
    status = api.get(ref)
    assert status.status_code == 200
    assert status.get_json()["reference"] == ref
    assert status.get_json()["status"] == "received"

    other = Api(client, make_token(app))
    for probe in (ref, "VR-0000000000"):
        response = other.get(probe)
        assert response.status_code == 404
        assert response.mimetype == "application/problem+json"


def test_a_second_report_on_the_same_conversation_reuses_the_conversation_row(api, db):
    body = report_body()
    assert api.post(body).status_code == 201
    again = report_body(conversation_id=body["conversation"]["id"], reporter_id="reporter-2")
    assert api.post(again).status_code == 201
    assert len(db.exec(select(Conversation)).all()) == 1
    case = db.exec(select(Case)).one()
    assert (case.report_count, case.distinct_reporters) == (2, 2)


def test_missing_unknown_and_revoked_tokens_get_401(app, client, db):
    body = report_body()
    assert client.post("/api/v1/reports", json=body).status_code == 401
    wrong = Api(client, "vgl_not-a-token")
    response = wrong.post(body)
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")

    secret = make_token(app, name="soon-revoked")
    live = Api(client, secret)
    assert live.post(body).status_code == 201
    result = app.test_cli_runner().invoke(
        args=["tokens", "revoke", "--name", "soon-revoked", "--reason", "leaked"]
    )
    assert result.exit_code == 0, result.output
    assert live.post(report_body()).status_code == 401


def test_a_token_without_the_scope_gets_403(app, client):
    with session_scope(app.extensions["vigil.engine"]) as session:
        session.add(ServiceToken(name="other", token_hash=hash_token("vgl_x"), scopes="other"))
    response = Api(client, "vgl_x").post(report_body())
    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"


def test_api_ignores_cookies_and_needs_no_csrf(client, api, factory):
    factory.login_as(client, "admin")  # a browser session must not stand in for a token
    assert client.post("/api/v1/reports", json=report_body()).status_code == 401
    assert api.post(report_body()).status_code == 201


def test_replayed_and_stored_receipts_are_json(api):
    response = api.post(report_body())
    assert response.mimetype == "application/json"
    assert json.loads(response.data)["category"] == "scam_fraud"
