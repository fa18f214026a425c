"""Idempotency-Key: replay the first response, 422 for a different body, 409 while in flight."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from sqlmodel import select

import moderation.api.views
import moderation.intake.reports
from core.db import session_scope
from core.timeutil import utcnow
from moderation.api.models import IdempotencyRecord
from moderation.intake.models import Report
from tests.factories import make_token
from tests.helpers import Api, report_body


def test_same_key_and_body_replays_the_first_response(api, db):
    body = report_body()
    first = api.post(body, **{"Idempotency-Key": "k-1"})
    assert first.status_code == 201
    # Key order and whitespace do not make a different body.
    again = api.client.post(
        "/api/v1/reports",
        data=json.dumps(body, indent=2, sort_keys=True),
        content_type="application/json",
        headers=api.headers(**{"Idempotency-Key": "k-1"}),
    )
    assert again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"]
    assert "Idempotent-Replayed" not in first.headers
    assert len(db.exec(select(Report)).all()) == 1


def test_same_key_with_a_different_body_is_422(api, db):
    assert api.post(report_body(), **{"Idempotency-Key": "k-2"}).status_code == 201
    response = api.post(report_body(description="changed"), **{"Idempotency-Key": "k-2"})
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert "different body" in response.get_json()["detail"]
    assert len(db.exec(select(Report)).all()) == 1


def test_keys_belong_to_their_token(app, client, api, db):
    assert api.post(report_body(), **{"Idempotency-Key": "shared"}).status_code == 201
    other = Api(client, make_token(app))
    assert other.post(report_body(), **{"Idempotency-Key": "shared"}).status_code == 201
    assert len(db.exec(select(Report)).all()) == 2


def test_a_retry_while_the_first_request_runs_is_409(app, api, db, monkeypatch):
    entered, release = threading.Event(), threading.Event()
    real = moderation.api.views.payload_snapshot

    def slow_snapshot(payload):
        # Runs after the claim committed and before the intake transaction begins.
        entered.set()
        assert release.wait(20)
        return real(payload)

    monkeypatch.setattr(moderation.api.views, "payload_snapshot", slow_snapshot)
    body, results = report_body(), {}

    def first_request() -> None:
        results["first"] = app.test_client().post(
            "/api/v1/reports", json=body, headers=api.headers(**{"Idempotency-Key": "k-3"})
        )

    worker = threading.Thread(target=first_request)
    worker.start()
    try:
        assert entered.wait(20)
        monkeypatch.setattr(moderation.api.views, "payload_snapshot", real)
        retry = api.post(body, **{"Idempotency-Key": "k-3"})
        assert retry.status_code == 409
        assert retry.mimetype == "application/problem+json"
    finally:
        release.set()
        worker.join(30)
    assert results["first"].status_code == 201
    replay = api.post(body, **{"Idempotency-Key": "k-3"})
    assert replay.status_code == 201
    assert replay.get_json() == results["first"].get_json()
    assert len(db.exec(select(Report)).all()) == 1


def test_a_failed_request_releases_its_key(api, db, monkeypatch):
    def boom(*_args, **_kwargs):
        raise RuntimeError("injected")

    monkeypatch.setattr(moderation.intake.reports, "submit_report", boom)
    body = report_body()
    assert api.post(body, **{"Idempotency-Key": "k-4"}).status_code == 500
    assert db.exec(select(IdempotencyRecord)).all() == []
    monkeypatch.undo()
    assert api.post(body, **{"Idempotency-Key": "k-4"}).status_code == 201


def test_an_abandoned_claim_is_taken_over_after_the_lease(app, api, db, token):
    body = report_body()
    from access_control.models import ServiceToken
    from access_control.tokens import hash_token
    from moderation.api.idempotency import fingerprint

    with session_scope(app.extensions["vigil.engine"]) as session:
        token_row = session.exec(
            select(ServiceToken).where(ServiceToken.token_hash == hash_token(token))
        ).one()
        stale = utcnow() - timedelta(minutes=5)
        session.add(
            IdempotencyRecord(
                token_id=token_row.id,
                key="k-5",
                request_hash=fingerprint(body),
                created_at=stale,
                updated_at=stale,
            )
        )
    assert api.post(body, **{"Idempotency-Key": "k-5"}).status_code == 201


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "ключ"])
def test_malformed_keys_are_400(api, key):
    response = api.post(report_body(), **{"Idempotency-Key": key})
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
