"""Delivery: claim each due delivery by compare-and-set, POST it outside any transaction,
then record the attempt and the new state in a second short transaction.

A claim is a lease (`leased_until`) set only where the row is still pending, due and
unleased, so two deliverers (threads or processes, SQLite or PostgreSQL) never hold the
same delivery at once, and a delivered row is never claimed again. A deliverer that dies
between claim and record loses its lease when it expires; the event is then sent again
under the same id, which is why receivers deduplicate by id (docs/webhooks.md).
"""

from __future__ import annotations

import http.client
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from core.sealed_text import is_withheld
from moderation.notify.models import (
    DeliveryAttempt,
    DeliveryState,
    OutboxEvent,
    WebhookDelivery,
    WebhookEndpoint,
)
from moderation.notify.outbox import envelope_body
from moderation.notify.settings import WebhookSettings, current_webhooks
from moderation.notify.signing import sign

USER_AGENT = "Vigil-Webhooks/1"
BATCH = 100  # due deliveries read per query; a pass goes on until none are left
MAX_ERROR = 200  # characters of an error kept (the column holds 500)

Poster = Callable[[str, bytes, Mapping[str, str], float], int]
SessionSource = Engine | Callable[[], Session]


class PostError(Exception):
    """No HTTP answer (timeout, refused, dropped); the message is short and secret-free."""


@dataclass(frozen=True)
class Claim:
    """What one attempt needs, read while claiming, so the POST runs without a session."""

    delivery_id: int
    leased_until: datetime
    attempts: int  # before this attempt
    url: str
    secret: str = field(repr=False)
    event_id: str
    event_type: str
    body: bytes


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: a status code, or an error instead."""

    attempted_at: datetime
    status: int | None
    error: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class PassSummary:
    """What one pass of `deliver_due` did."""

    delivered: int = 0
    retrying: int = 0
    failed: int = 0  # gave up: the last attempt failed
    lost: int = 0  # another deliverer claimed it first

    def count(self, state: DeliveryState | None) -> None:
        """Count one recorded attempt by the state it left the delivery in."""
        if state is DeliveryState.DELIVERED:
            self.delivered += 1
        elif state is DeliveryState.FAILED:
            self.failed += 1
        elif state is DeliveryState.PENDING:
            self.retrying += 1

    def line(self) -> str:
        """One line for the command line."""
        return (
            f"{self.delivered} delivered, {self.retrying} to retry, "
            f"{self.failed} failed (gave up), {self.lost} taken by another deliverer"
        )


def deliver_due(
    source: SessionSource,
    *,
    now: datetime,
    post: Poster | None = None,
    settings: WebhookSettings | None = None,
) -> PassSummary:
    """Deliver every delivery due at `now`, one claim, POST and record at a time.

    `source` is an engine or a callable returning a new Session. `now` is the pass's start;
    later steps add the time elapsed since (monotonic), so leases stay true in a long pass.
    `settings` defaults to the running app's; `post` to `post_json` (urllib).
    """
    settings = settings or current_webhooks()
    post = post or post_json
    open_session = _session_factory(source)
    clock = _clock(now)
    summary = PassSummary()
    after = 0
    while batch := due_ids(open_session, now=clock(), after=after):
        for delivery_id in batch:
            after = delivery_id
            claim = claim_delivery(open_session, delivery_id, now=clock(), lease=settings.lease)
            if claim is None:
                summary.lost += 1
                continue
            outcome = attempt(claim, post=post, timeout=settings.timeout_seconds, clock=clock)
            summary.count(record_attempt(open_session, claim, outcome, settings=settings))
    return summary


def _session_factory(source: SessionSource) -> Callable[[], Session]:
    if isinstance(source, Engine):
        return lambda: Session(source, expire_on_commit=False)
    return source


def _clock(now: datetime) -> Callable[[], datetime]:
    started = time.monotonic()
    return lambda: now + timedelta(seconds=time.monotonic() - started)


@contextmanager
def _transaction(open_session: Callable[[], Session]) -> Iterator[Session]:
    session = open_session()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _due(now: datetime):
    """The conditions of a delivery anyone may claim at `now`."""
    active = select(WebhookEndpoint.id).where(col(WebhookEndpoint.active))
    return (
        col(WebhookDelivery.state) == DeliveryState.PENDING,
        col(WebhookDelivery.next_attempt_at) <= now,
        or_(col(WebhookDelivery.leased_until).is_(None), col(WebhookDelivery.leased_until) <= now),
        col(WebhookDelivery.endpoint_id).in_(active),
    )


def due_ids(open_session: Callable[[], Session], *, now: datetime, after: int = 0) -> list[int]:
    """Ids of up to BATCH deliveries due at `now`, above `after`, in id order."""
    with _transaction(open_session) as session:
        query = (
            select(WebhookDelivery.id)
            .where(*_due(now), col(WebhookDelivery.id) > after)
            .order_by(col(WebhookDelivery.id))
            .limit(BATCH)
        )
        return list(session.exec(query))


def claim_delivery(
    open_session: Callable[[], Session], delivery_id: int, *, now: datetime, lease: timedelta
) -> Claim | None:
    """Lease one delivery if it is still due and unleased (compare-and-set), and commit.

    None when another deliverer got there first or it is no longer due.
    """
    leased_until = now + lease
    with _transaction(open_session) as session:
        taken = session.execute(
            update(WebhookDelivery)
            .where(col(WebhookDelivery.id) == delivery_id, *_due(now))
            .values(leased_until=leased_until)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount != 1:
            return None
        delivery, endpoint, event = session.exec(
            select(WebhookDelivery, WebhookEndpoint, OutboxEvent)
            .join(WebhookEndpoint, col(WebhookEndpoint.id) == WebhookDelivery.endpoint_id)
            .join(OutboxEvent, col(OutboxEvent.id) == WebhookDelivery.outbox_event_id)
            .where(col(WebhookDelivery.id) == delivery_id)
        ).one()
        return Claim(
            delivery_id=delivery_id,
            leased_until=leased_until,
            attempts=delivery.attempts,
            url=endpoint.url,
            secret=endpoint.secret,
            event_id=event.event_id,
            event_type=str(event.event_type),
            body=envelope_body(event),
        )


def signed_headers(claim: Claim, *, timestamp: int) -> dict[str, str]:
    """The headers of one attempt; the signature covers the timestamp and the exact body."""
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Vigil-Event-Id": claim.event_id,
        "Vigil-Event-Type": claim.event_type,
        "Vigil-Timestamp": str(timestamp),
        "Vigil-Signature": sign(claim.secret, timestamp, claim.body),
    }


def attempt(
    claim: Claim, *, post: Poster, timeout: float, clock: Callable[[], datetime]
) -> Outcome:
    """POST the claimed delivery once (no session open); never raises for a failed POST.

    Vigil-Timestamp is the wall clock when the request leaves, so the receiver's
    freshness check holds however long the pass has run.
    """
    attempted_at = clock()
    started = time.monotonic()
    status, error = None, ""
    try:
        if is_withheld(claim.secret):
            raise PostError("the endpoint's secret failed its integrity check: rotate it")
        headers = signed_headers(claim, timestamp=int(time.time()))
        status = post(claim.url, claim.body, headers, timeout)
    except PostError as exc:
        error = str(exc)
    except Exception as exc:  # a poster's bug must not lose the lease silently
        error = f"{type(exc).__name__}: {exc}"
    if status is not None and not 200 <= status < 300:
        error = f"HTTP {status}" + (": redirects are not followed" if 300 <= status < 400 else "")
    return Outcome(
        attempted_at=attempted_at,
        status=status,
        error=short_error(error, claim.secret),
        duration_ms=int((time.monotonic() - started) * 1000),
    )


def short_error(text: str, secret: str) -> str:
    """One line of at most MAX_ERROR characters, with the secret cut out should it appear."""
    text = " ".join(text.replace(secret, "[secret]").split()) if secret else " ".join(text.split())
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 3] + "..."


def record_attempt(
    open_session: Callable[[], Session],
    claim: Claim,
    outcome: Outcome,
    *,
    settings: WebhookSettings,
) -> DeliveryState | None:
    """Log the attempt and move the delivery on (delivered, retry later or failed); commit.

    A 2xx marks the delivery delivered whatever became of the lease; a failure changes it
    only while this claim still holds it. None when the row was no longer ours to change.
    """
    attempts = claim.attempts + 1
    base = (col(WebhookDelivery.id) == claim.delivery_id,)
    base += (col(WebhookDelivery.state) == DeliveryState.PENDING,)
    values = {
        "attempts": WebhookDelivery.attempts + 1,
        "leased_until": None,
        "last_status": outcome.status,
        "last_error": outcome.error,
    }
    if outcome.ok:
        state = DeliveryState.DELIVERED
        where = base
        values |= {"state": state, "delivered_at": outcome.attempted_at}
    else:
        gave_up = attempts >= settings.max_attempts
        state = DeliveryState.FAILED if gave_up else DeliveryState.PENDING
        where = (*base, col(WebhookDelivery.leased_until) == claim.leased_until)
        retry_at = outcome.attempted_at + settings.backoff(attempts)
        values |= {"state": state, "next_attempt_at": retry_at}
    with _transaction(open_session) as session:
        session.add(
            DeliveryAttempt(
                delivery_id=claim.delivery_id,
                attempted_at=outcome.attempted_at,
                status_code=outcome.status,
                error=outcome.error,
                duration_ms=outcome.duration_ms,
            )
        )
        changed = session.execute(
            update(WebhookDelivery)
            .where(*where)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    return state if changed.rowcount == 1 else None


def _opener() -> urllib.request.OpenerDirector:
    """http and https only (proxies from the environment), no redirect handler, no errors
    raised for a status: every answer comes back as it is."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(context=ssl.create_default_context()),
    ):
        opener.add_handler(handler)
    return opener


def post_json(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
    """POST with urllib and return the status, whatever it is (a 3xx is not followed).

    PostError when no answer came: timeout, refused or dropped connection, bad response.
    """
    if urlsplit(url).scheme not in ("http", "https"):
        raise PostError("not an http(s) URL")
    # S310: the scheme is checked above, and the opener has no file: or ftp: handler.
    request = urllib.request.Request(url, body, dict(headers), method="POST")  # noqa: S310
    try:
        with _opener().open(request, timeout=timeout) as response:
            return response.status
    except TimeoutError:
        raise PostError(f"timed out after {timeout:g}s") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise PostError(f"timed out after {timeout:g}s") from None
        raise PostError(f"connection failed: {exc.reason}") from None
    except (http.client.HTTPException, OSError) as exc:
        raise PostError(f"no valid answer: {type(exc).__name__} {exc}".strip()) from None
