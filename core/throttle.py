"""Throttles on flask-limiter's storage: check before, count failures after.

When the shared storage (Redis) cannot be reached, the throttles keep counting in this
worker's memory instead of failing open (or failing every sign-in with a 500): each worker
then enforces the limits on its own, which lets at most workers x limit through, until the
storage answers again (tried every RECHECK_SECONDS). Counts made meanwhile stay in memory.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from typing import TypeVar

from flask import Flask, current_app
from limits import parse
from limits.errors import StorageError
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter, RateLimiter
from werkzeug.exceptions import TooManyRequests

RECHECK_SECONDS = 5.0
T = TypeVar("T")


class Fallback:
    """This worker's in-memory counters, used while the shared storage is down."""

    def __init__(self) -> None:
        self.memory: RateLimiter | None = None  # made on the first outage
        self.down_until = 0.0  # monotonic time before which the shared storage is not tried

    def run(self, shared: RateLimiter, call: Callable[..., T], *args) -> T:
        """`call(limiter, *args)` on the shared storage, or on memory while it is down."""
        if time.monotonic() >= self.down_until:
            try:
                return call(shared, *args)
            except (StorageError, *_exceptions(shared)) as exc:
                self.down_until = time.monotonic() + RECHECK_SECONDS
                current_app.logger.warning(
                    "rate-limit storage unreachable (%s); counting in memory",
                    type(exc).__name__,
                )
        if self.memory is None:
            self.memory = MovingWindowRateLimiter(MemoryStorage())
        return call(self.memory, *args)


def _exceptions(shared: RateLimiter) -> tuple[type[BaseException], ...]:
    found = shared.storage.base_exceptions
    return found if isinstance(found, tuple) else (found,)


def init_throttle(app: Flask) -> None:
    app.extensions["vigil.throttle_fallback"] = Fallback()


def _run(call: Callable[..., T], *args) -> T:
    shared = current_app.extensions["vigil.limiter"].limiter
    return current_app.extensions["vigil.throttle_fallback"].run(shared, call, *args)


def key_for(kind: str, value: str) -> str:
    """A storage key that does not spell out personal data such as an email address."""
    return f"{kind}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"


def enforce(limits: list[tuple[str, str]]) -> None:
    """Raise 429 with Retry-After if any (limit, key) pair is exhausted."""
    for limit_text, key in limits:
        reset = _run(_exhausted_until, parse(limit_text), key)
        if reset is not None:
            raise TooManyRequests(retry_after=max(1, math.ceil(reset - time.time())))


def _exhausted_until(strategy: RateLimiter, item, key: str) -> float | None:
    """When an exhausted limit frees up again; None while it has room."""
    return None if strategy.test(item, key) else strategy.get_window_stats(item, key).reset_time


def count(limits: list[tuple[str, str]]) -> None:
    """Spend one unit of each (limit, key) pair."""
    for limit_text, key in limits:
        _run(_spend, parse(limit_text), key)


def _spend(strategy: RateLimiter, item, key: str) -> bool:
    return strategy.hit(item, key)


def take(limits: list[tuple[str, str]]) -> None:
    """Check and spend in one go (for limits that count every request)."""
    enforce(limits)
    count(limits)
