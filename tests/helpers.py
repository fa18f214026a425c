"""Test helpers that act as a browser or a client would: CSRF forms, the API, the workspace."""

from __future__ import annotations

import copy
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, func, select

from audit.models import AccessEntry
from core.db import read_only

CSRF_RE = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"'
)


def csrf_token(client, url: str = "/login") -> str:
    """Read a CSRF token from a page the way a browser would."""
    html = client.get(url).get_data(as_text=True)
    match = CSRF_RE.search(html)
    assert match, f"no CSRF token on {url}"
    return match.group(1) or match.group(2)


def post_form(client, url: str, data: dict, *, token_from: str = "/login", **kwargs):
    """POST a form with a CSRF token, as a browser would."""
    return client.post(url, data={"csrf_token": csrf_token(client, token_from), **data}, **kwargs)


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


def log_count(app, **where) -> int:
    """How many access-log entries match the given column values."""
    with Session(read_only(app.extensions["vigil.engine"])) as session:
        query = select(func.count()).select_from(AccessEntry)
        for name, value in where.items():
            query = query.where(col(getattr(AccessEntry, name)) == value)
        return session.exec(query).one()


TOKEN_RE = re.compile(r'name="token" value="([^"]+)"')


def claim_next(client, queue: str = "") -> tuple[int, str]:
    """Press "Next case" and return (case id, claim token) from the case page."""
    response = post_form(client, "/review/next", {"queue": queue}, token_from="/account")
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    location = response.headers["Location"]
    case_id = int(location.rstrip("/").split("/")[-1])
    page = client.get(location)
    assert page.status_code == 200, page.get_data(as_text=True)[:500]
    match = TOKEN_RE.search(page.get_data(as_text=True))
    return case_id, match.group(1) if match else ""


def run_training_export(app, out_dir, *extra: str):
    """`flask --app app training export --out DIR` through the real CLI; the manifest and
    every exported record (all shards, in order)."""
    import json
    from pathlib import Path

    result = app.test_cli_runner().invoke(
        args=["training", "export", "--out", str(out_dir), *extra]
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((Path(out_dir) / "manifest.json").read_text())
    records = []
    for shard in manifest["shards"]:
        with open(Path(out_dir) / shard["file"], encoding="utf-8") as handle:
            records.extend(json.loads(line) for line in handle)
    return manifest, records


def exported_texts(records) -> str:
    """Every text an export carries, joined (to search for what must not be there)."""
    parts = []
    for record in records:
        if record["type"] == "conversation":
            for message in record["messages"]:
                parts.append(message["text"])
                parts.append(message.get("feedback", {}).get("comment", ""))
        else:
            parts.extend([record["input"] or "", record["output"], record["comment"]])
    return "\n".join(parts)


def decision_form(token: str, **overrides) -> dict:
    """A complete decision form as a reviewer fills it (illegal content, removed, confirmed);
    keyword arguments replace fields."""
    form = {
        "token": token,
        "labels": ["scam_fraud"],
        "ground": "illegal",
        "legal_ground": "Directive (EU) 2019/713 (fraud with non-cash means of payment)",
        "explanation": "The message impersonates a bank to obtain card numbers.",
        "facts": "Two reporters flagged message m1, which asks for card details for a prize.",
        "outcome": "remove",
        "automated_decision": "not_automated",
        "confirm": "yes",
    }
    form.update(overrides)
    return form
