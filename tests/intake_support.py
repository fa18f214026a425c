"""Helpers for the intake tests (moderation and privacy): tokens, payloads, conversations."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from core.db import session_scope


def make_token(app, *, name: str | None = None, scopes: tuple[str, ...] = ("reports:write",)):
    """Create a service token the way the CLI does; returns the secret."""
    from access_control.tokens import create_token

    with session_scope(app.extensions["vigil.engine"]) as session:
        _, secret = create_token(session, name=name or f"t-{uuid.uuid4().hex[:8]}", scopes=scopes)
    return secret


def report_body(
    *,
    conversation_id: str | None = None,
    texts: tuple[str, ...] = ("hello", "[simulated scam message]"),
    **overrides: Any,
) -> dict:
    """A valid POST /api/v1/reports body; keyword arguments replace top-level fields."""
    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    roles = ("user", "assistant")
    body = {
        "conversation": {
            "id": conversation_id or f"conv-{uuid.uuid4().hex[:12]}",
            "owner_id": "owner-1",
            "model_id": "vigil-demo-1",
            "product": "chat",
            "title": "",
            "messages": [
                {
                    "id": f"m{i}",
                    "role": roles[i % 2],
                    "text": text,
                    "created_at": (start + timedelta(minutes=i)).isoformat(),
                }
                for i, text in enumerate(texts)
            ],
        },
        "message_ids": ["m1"] if len(texts) > 1 else [],
        "category": "scam_fraud",
        "description": "",
        "reporter_id": "reporter-1",
        "source_type": "user_notice",
    }
    body.update(copy.deepcopy(overrides))
    return body


class Api:
    """A tiny client for /api/v1 with a bearer token."""

    def __init__(self, client, token: str) -> None:
        self.client, self.token = client, token

    def headers(self, **extra: str) -> dict:
        return {"Authorization": f"Bearer {self.token}", **extra}

    def post(self, body: Any, **headers: str):
        return self.client.post("/api/v1/reports", json=body, headers=self.headers(**headers))

    def get(self, ref: str):
        return self.client.get(f"/api/v1/reports/{ref}", headers=self.headers())


def make_conversation(
    app,
    owner,
    *,
    texts: tuple[str, ...] = ("hi", "[simulated scam message]", "thanks"),
    title: str = "Test conversation",
    external_id: str | None = None,
):
    """Store a conversation owned by `owner` with alternating user/assistant messages."""
    from privacy.conversations import MessageDraft, create_conversation

    roles = ("user", "assistant")
    with session_scope(app.extensions["vigil.engine"]) as session:
        conversation = create_conversation(
            session,
            owner=owner,
            model_id="vigil-demo-1",
            title=title,
            external_id=external_id,
            messages=[
                MessageDraft(role=roles[i % 2], text=t, external_id=f"m{i}")
                for i, t in enumerate(texts)
            ],
        )
    return conversation
