"""Webhook settings read once at start-up: timeout, attempts and the backoff schedule."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app

LEASE_MARGIN_SECONDS = 60  # a claim outlives the slowest attempt by at least this much


@dataclass(frozen=True)
class WebhookSettings:
    """How long one attempt may take, how often to try and how long to wait between."""

    timeout_seconds: float = 10
    max_attempts: int = 10
    backoff_seconds: float = 30
    backoff_cap_seconds: float = 21600

    def backoff(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failed attempt: base * 2^(attempts-1), capped."""
        exponent = min(max(attempts - 1, 0), 32)  # 2^32 * base is past any cap
        seconds = min(self.backoff_seconds * 2**exponent, self.backoff_cap_seconds)
        return timedelta(seconds=seconds)

    @property
    def lease(self) -> timedelta:
        """How long a claim holds a delivery: the connect and the read timeout, plus a margin."""
        return timedelta(seconds=2 * self.timeout_seconds + LEASE_MARGIN_SECONDS)


def webhook_settings(settings: Mapping[str, Any]) -> WebhookSettings:
    """WebhookSettings from the app's settings; ValueError for a value that cannot work."""
    # int(): a VIGIL_*_FILE value arrives as text.
    read = WebhookSettings(
        timeout_seconds=int(settings["WEBHOOK_TIMEOUT_SECONDS"]),
        max_attempts=int(settings["WEBHOOK_MAX_ATTEMPTS"]),
        backoff_seconds=int(settings["WEBHOOK_BACKOFF_SECONDS"]),
        backoff_cap_seconds=int(settings["WEBHOOK_BACKOFF_CAP_SECONDS"]),
    )
    for name in ("timeout_seconds", "max_attempts"):
        if getattr(read, name) <= 0:
            raise ValueError(f"{name} must be above 0")
    if read.backoff_seconds < 0 or read.backoff_cap_seconds < read.backoff_seconds:
        raise ValueError("backoff must be 0 or more and the cap at least the backoff")
    return read


def current_webhooks() -> WebhookSettings:
    """The running app's webhook settings."""
    return current_app.extensions["vigil.webhooks"]
