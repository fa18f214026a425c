"""The outbox: events written in the caller's transaction, and the envelope sent for each."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session, col, select

from core.timeutil import as_utc, utcnow
from moderation.notify.models import (
    OutboxEvent,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEventType,
)

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def enqueue(session: Session, *, event_type: str, payload: dict) -> OutboxEvent:
    """Add an event and a pending delivery for every active endpoint; never commits.

    Call it inside the transaction that makes the event true (a final decision), so the
    event exists exactly when that commits. ValueError for an undeclared event type or a
    payload that is not a JSON object.
    """
    try:
        kind = WebhookEventType(event_type)
    except ValueError:
        declared = ", ".join(member.value for member in WebhookEventType)
        raise ValueError(f"unknown webhook event type {event_type!r}; one of {declared}") from None
    event = OutboxEvent(event_type=kind, payload=_payload_json(payload), created_at=utcnow())
    session.add(event)
    session.flush()
    for endpoint_id in session.exec(
        select(WebhookEndpoint.id).where(col(WebhookEndpoint.active)).order_by(WebhookEndpoint.id)
    ):
        session.add(
            WebhookDelivery(
                endpoint_id=endpoint_id, outbox_event_id=event.id, next_attempt_at=event.created_at
            )
        )
    session.flush()
    return event


def _payload_json(payload: Any) -> str:
    if not isinstance(payload, dict):
        raise ValueError("a webhook payload is a JSON object (a dict)")
    try:
        return json.dumps(payload, ensure_ascii=False, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"webhook payload is not JSON-serialisable: {exc}") from None


def envelope(event: OutboxEvent) -> dict:
    """What the receiver gets: id (stable across retries), type, created_at (UTC), data."""
    return {
        "id": event.event_id,
        "type": str(event.event_type),
        "created_at": as_utc(event.created_at).strftime(TIME_FORMAT),
        "data": json.loads(event.payload),
    }


def envelope_body(event: OutboxEvent) -> bytes:
    """The envelope as the exact bytes that are signed and POSTed (the same on every retry)."""
    text = json.dumps(envelope(event), ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8")
