"""The `webhooks` command group: add (secret shown once), list, disable, deliver, log."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text
from sqlmodel import select

from access_control.journal import AdminEvent
from app import create_app
from core.config import ConfigError
from moderation.notify.models import WebhookEndpoint
from tests.conftest import test_settings
from tests.moderation.notify.conftest import enqueue_event, rows


def _webhooks(app, *args: str):
    return app.test_cli_runner().invoke(args=["webhooks", *args])


def test_add_prints_a_secret_once_that_verifies_a_real_delivery(app, db, receiver):
    added = _webhooks(app, "add", "--name", "chat-backend", "--url", receiver.url)
    assert added.exit_code == 0, added.output
    assert "shown only once" in added.output
    secret = added.output.strip().splitlines()[-1]
    assert secret.startswith("whsec_") and len(secret) > 40
    receiver.secret = secret

    listed = _webhooks(app, "list")
    assert listed.exit_code == 0 and secret not in listed.output
    assert "chat-backend" in listed.output and receiver.url in listed.output
    assert "active" in listed.output and "pending 0" in listed.output
    # At rest the secret is sealed (read raw, past the SealedText type).
    (stored,) = db.execute(text("SELECT secret FROM webhook_endpoint")).one()
    assert stored.startswith("v2:") and secret not in stored

    event_id = enqueue_event(app, case=12)
    assert "pending 1" in _webhooks(app, "list").output
    delivered = _webhooks(app, "deliver")
    assert delivered.exit_code == 0, delivered.output
    assert delivered.output.startswith("1 delivered, 0 to retry, 0 failed")
    assert [r.verified for r in receiver.received] == [True]
    assert receiver.delivered() == {event_id: 1}
    assert "delivered 1" in _webhooks(app, "list").output

    log = _webhooks(app, "log", "--event", event_id)
    assert log.exit_code == 0 and len(log.output.splitlines()) == 1
    assert f"chat-backend {event_id} decision.final 200" in log.output
    assert _webhooks(app, "log", "--event", "no-such-event").output == ""
    assert secret not in log.output + delivered.output


def test_bad_input_gives_a_clear_error_and_a_failing_exit_code(app):
    for url in ("ftp://chat.example/hook", "not a url", "http://", "https://x.example:99999/"):
        result = _webhooks(app, "add", "--name", "chat", "--url", url)
        assert result.exit_code != 0 and "Error:" in result.output, url
    too_long = "https://chat.example/" + "a" * 2000
    assert "at most 2000" in _webhooks(app, "add", "--name", "chat", "--url", too_long).output
    for name in ("Chat", "chat backend", "chat_backend", "", "a" * 65):
        result = _webhooks(app, "add", "--name", name, "--url", "https://chat.example/")
        assert result.exit_code != 0 and "a-z, 0-9" in result.output, name

    assert _webhooks(app, "add", "--name", "chat", "--url", "https://chat.example/").exit_code == 0
    duplicate = _webhooks(app, "add", "--name", "chat", "--url", "https://other.example/")
    assert duplicate.exit_code != 0 and "already exists" in duplicate.output
    unknown = _webhooks(app, "disable", "--name", "nobody")
    assert unknown.exit_code != 0 and "no webhook named 'nobody'" in unknown.output
    assert len(rows(app, WebhookEndpoint)) == 1


def test_disable_stops_deliveries_and_is_journaled(app, db, receiver):
    assert _webhooks(app, "add", "--name", "chat", "--url", receiver.url).exit_code == 0
    disabled = _webhooks(app, "disable", "--name", "chat")
    assert disabled.exit_code == 0 and "disabled webhook chat" in disabled.output
    assert _webhooks(app, "disable", "--name", "chat").exit_code != 0
    assert "disabled" in _webhooks(app, "list").output
    enqueue_event(app)
    assert _webhooks(app, "deliver").output.startswith("0 delivered")
    assert receiver.received == []
    events = [e.event_type for e in db.exec(select(AdminEvent).order_by(AdminEvent.id))]
    assert events[-2:] == ["webhook.added", "webhook.disabled"]


def test_deliver_every_prints_one_line_per_pass_until_interrupted(app, receiver, monkeypatch):
    receiver.secret = _webhooks(app, "add", "--name", "chat", "--url", receiver.url).output
    receiver.secret = receiver.secret.strip().splitlines()[-1]
    enqueue_event(app)
    naps = []

    def nap(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(time, "sleep", nap)
    result = _webhooks(app, "deliver", "--every", "5")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 2 and lines[0].startswith("1 delivered") and lines[1].startswith("0 ")
    assert naps == [5, 5] and receiver.delivered().total() == 1


def test_a_setting_that_cannot_work_stops_start_up(database_url, tmp_path):
    settings = test_settings(database_url, tmp_path)
    with pytest.raises(ConfigError, match="webhooks"):
        create_app(settings | {"WEBHOOK_MAX_ATTEMPTS": 0})
