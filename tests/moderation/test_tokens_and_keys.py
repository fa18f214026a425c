"""Command line: service tokens (shown once, stored hashed, revocable) and evidence key rotation."""

from __future__ import annotations

import base64
import secrets

from sqlmodel import Session, select

from access_control.journal import AdminEvent
from access_control.models import ServiceToken
from access_control.tokens import hash_token
from app import create_app
from moderation.intake.evidence import open_evidence
from moderation.intake.models import CaseKey, EvidenceVersion
from moderation.intake.sealing import key_id_for
from tests.conftest import test_settings
from tests.helpers import Api, report_body


def _new_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def test_tokens_create_prints_the_secret_once_and_stores_only_its_hash(app, client, db):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["tokens", "create", "--name", "backend", "--scope", "reports:write"]
    )
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1]
    assert secret.startswith("vgl_") and len(secret) > 40
    row = db.exec(select(ServiceToken)).one()
    assert row.token_hash == hash_token(secret) and secret not in repr(row.model_dump())
    assert row.scopes == "reports:write"
    assert Api(client, secret).post(report_body()).status_code == 201

    listed = runner.invoke(args=["tokens", "list"]).output
    assert "backend" in listed and secret not in listed
    duplicate = runner.invoke(
        args=["tokens", "create", "--name", "backend", "--scope", "reports:write"]
    )
    assert duplicate.exit_code != 0
    unknown = runner.invoke(args=["tokens", "create", "--name", "x", "--scope", "cases:read"])
    assert unknown.exit_code != 0

    revoked = runner.invoke(args=["tokens", "revoke", "--name", "backend", "--reason", "rotated"])
    assert revoked.exit_code == 0
    assert Api(client, secret).post(report_body()).status_code == 401
    again = runner.invoke(args=["tokens", "revoke", "--name", "backend", "--reason", "twice"])
    assert again.exit_code != 0
    events = [e.event_type for e in db.exec(select(AdminEvent).order_by(AdminEvent.id))]
    assert events[-2:] == ["token.created", "token.revoked"]


def test_rotate_evidence_rewraps_every_key_and_old_evidence_still_opens(database_url, tmp_path):
    old_key, new_key = _new_key(), _new_key()
    settings = test_settings(database_url, tmp_path)
    first = create_app(settings | {"EVIDENCE_KEY": old_key})
    try:
        from tests.factories import make_token

        api = Api(first.test_client(), make_token(first))
        for i in range(3):
            assert api.post(report_body(reporter_id=f"r{i}")).status_code == 201
        from tests.factories import Factory, make_conversation

        owner = Factory(first).make_user()
        stored = make_conversation(first, owner, texts=("kept across rotation",))
    finally:
        first.extensions["vigil.engine"].dispose()

    # The new key alone cannot read the old cases: rotation needs the old key as well.
    alone = create_app(settings | {"EVIDENCE_KEY": new_key})
    try:
        result = alone.test_cli_runner().invoke(args=["keys", "rotate-evidence"])
        assert result.exit_code != 0 and "VIGIL_EVIDENCE_OLD_KEYS" in result.output
        with Session(alone.extensions["vigil.engine"]) as db:
            assert {row.key_id for row in db.exec(select(CaseKey))} == {
                key_id_for(base64.b64decode(old_key))
            }
    finally:
        alone.extensions["vigil.engine"].dispose()

    second = create_app(settings | {"EVIDENCE_KEY": new_key, "EVIDENCE_OLD_KEYS": old_key})
    try:
        result = second.test_cli_runner().invoke(args=["keys", "rotate-evidence"])
        assert result.exit_code == 0, result.output
        assert "rewrapped 3 data keys" in result.output
        again = second.test_cli_runner().invoke(args=["keys", "rotate-evidence"])
        assert "rewrapped 0 data keys" in again.output
    finally:
        second.extensions["vigil.engine"].dispose()

    # With the old key destroyed, every piece of evidence still opens under the new one.
    third = create_app(settings | {"EVIDENCE_KEY": new_key})
    try:
        from privacy.models import Message

        with Session(third.extensions["vigil.engine"]) as db:
            rows = db.exec(select(Message).where(Message.conversation_id == stored.id))
            assert [message.text for message in rows] == ["kept across rotation"]
        keys = third.extensions["vigil.intake"].keys
        with Session(third.extensions["vigil.engine"]) as db:
            assert {row.key_id for row in db.exec(select(CaseKey))} == {keys.current.key_id}
            for evidence in db.exec(select(EvidenceVersion)):
                document = open_evidence(db, evidence=evidence, keys=keys)
                assert document["messages"][1]["text"] == "[simulated scam message]"
    finally:
        third.extensions["vigil.engine"].dispose()
