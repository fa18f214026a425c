"""The outbox: enqueue writes in the caller's transaction and rolls back with it."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from sqlmodel import Session

from core.db import session_scope
from moderation.notify.endpoints import disable_endpoint
from moderation.notify.models import OutboxEvent, WebhookDelivery, WebhookEventType
from moderation.notify.outbox import enqueue, envelope
from tests.moderation.notify.conftest import add_hook, enqueue_event, rows


def test_enqueue_adds_the_event_and_one_pending_delivery_per_active_endpoint(app):
    add_hook(app, "https://one.example/hook", name="one")
    add_hook(app, "https://two.example/hook", name="two")
    add_hook(app, "https://off.example/hook", name="off")
    with session_scope(app.extensions["vigil.engine"]) as session:
        disable_endpoint(session, name="off")
    event_id = enqueue_event(app, "report.outcome", report=7, outcome="removed")

    (event,) = rows(app, OutboxEvent)
    assert event.event_id == event_id and len(event_id) == 36
    assert event.event_type == WebhookEventType.REPORT_OUTCOME
    assert json.loads(event.payload) == {"report": 7, "outcome": "removed"}
    deliveries = rows(app, WebhookDelivery)
    assert len(deliveries) == 2
    assert {d.state for d in deliveries} == {"pending"}
    assert {d.attempts for d in deliveries} == {0}
    assert {d.outbox_event_id for d in deliveries} == {event.id}


def test_enqueue_rolls_back_with_the_callers_transaction(app):
    add_hook(app, "https://one.example/hook")
    engine = app.extensions["vigil.engine"]
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        enqueue(session, event_type="decision.final", payload={"case": 1})
        raise RuntimeError("the decision failed after the event was enqueued")
    with Session(engine) as session:
        enqueue(session, event_type="appeal.filed", payload={"appeal": 2})
        session.rollback()  # enqueue itself never commits
    assert rows(app, OutboxEvent) == [] and rows(app, WebhookDelivery) == []


def test_enqueue_refuses_undeclared_types_and_non_json_payloads(app):
    with session_scope(app.extensions["vigil.engine"]) as session:
        with pytest.raises(ValueError, match=r"decision\.final"):
            enqueue(session, event_type="case.opened", payload={})
        with pytest.raises(ValueError, match="JSON"):
            enqueue(session, event_type="decision.final", payload={"at": datetime(2026, 1, 1)})
        with pytest.raises(ValueError, match="JSON"):
            enqueue(session, event_type="decision.final", payload=["not", "an", "object"])
        with pytest.raises(ValueError, match="JSON"):
            enqueue(session, event_type="decision.final", payload={"x": float("nan")})
    assert rows(app, OutboxEvent) == []


def test_every_declared_type_enqueues_and_the_envelope_has_id_type_time_and_data(app):
    for kind in ("decision.final", "report.outcome", "appeal.filed", "appeal.decided"):
        enqueue_event(app, kind, note="é")
    events = rows(app, OutboxEvent)
    assert [str(e.event_type) for e in events] == [t.value for t in WebhookEventType]
    sent = envelope(events[0])
    assert set(sent) == {"id", "type", "created_at", "data"}
    assert sent["id"] == events[0].event_id and sent["type"] == "decision.final"
    assert sent["data"] == {"note": "é"}
    datetime.strptime(sent["created_at"], "%Y-%m-%dT%H:%M:%S.%fZ")  # ISO 8601, UTC
