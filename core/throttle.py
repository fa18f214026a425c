"""Throttles on flask-limiter's storage: check before, count failures after."""

from __future__ import annotations

import hashlib
import math
import time

from flask import current_app
from limits import parse
from werkzeug.exceptions import TooManyRequests


def _strategy():
    return current_app.extensions["vigil.limiter"].limiter


def key_for(kind: str, value: str) -> str:
    """A storage key that does not spell out personal data such as an email address."""
    return f"{kind}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"


def enforce(limits: list[tuple[str, str]]) -> None:
    """Raise 429 with Retry-After if any (limit, key) pair is exhausted."""
    strategy = _strategy()
    for limit_text, key in limits:
        item = parse(limit_text)
        if not strategy.test(item, key):
            reset = strategy.get_window_stats(item, key).reset_time
            raise TooManyRequests(retry_after=max(1, math.ceil(reset - time.time())))


def count(limits: list[tuple[str, str]]) -> None:
    """Spend one unit of each (limit, key) pair."""
    strategy = _strategy()
    for limit_text, key in limits:
        strategy.hit(parse(limit_text), key)


def take(limits: list[tuple[str, str]]) -> None:
    """Check and spend in one go (for limits that count every request)."""
    enforce(limits)
    count(limits)
