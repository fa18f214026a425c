"""Idempotency-Key for the API: replay the first response, refuse reuse and overlap.

Same key + same body replays the stored response; same key + a different body is 422; a
retry while the first request is still running is 409. The claim is committed on its own,
before the work starts, so a concurrent retry can see it. A claim whose request died
without finishing is taken over after LEASE; records older than RETENTION are forgotten.
Only successful responses are stored: after an error the claim is released, so the client
may retry with the same key.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, select

from core.db import dialect_insert
from core.timeutil import as_utc
from moderation.api.models import IdempotencyRecord, IdempotencyState
from moderation.intake.evidence import canonical_bytes

LEASE = timedelta(seconds=60)
RETENTION = timedelta(hours=24)
KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")  # printable ASCII, as the header draft suggests


class IdempotencyConflict(Exception):
    """The key cannot be used for this request: 409 (in flight) or 422 (different body)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


@dataclass(frozen=True)
class Replay:
    """The stored first response."""

    status_code: int
    body: str


def valid_key(key: str) -> bool:
    """True for a usable Idempotency-Key header value."""
    return bool(KEY_PATTERN.fullmatch(key))


def fingerprint(data: object) -> str:
    """A hash of the decoded body, so whitespace and key order do not count as different."""
    return hashlib.sha256(canonical_bytes(data)).hexdigest()


def claim(
    session: Session, *, token_id: int, key: str, request_hash: str, now: datetime
) -> IdempotencyRecord | Replay:
    """Claim the key for this request, or return the replay; raises IdempotencyConflict."""
    values = {
        "token_id": token_id,
        "key": key,
        "request_hash": request_hash,
        "state": IdempotencyState.IN_FLIGHT,
        "response_body": "",
        "created_at": now,
        "updated_at": now,
    }
    statement = (
        dialect_insert(session)(IdempotencyRecord)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["token_id", "key"])
        .returning(IdempotencyRecord.id)  # no row back on conflict (rowcount is unreliable)
    )
    inserted = session.execute(statement).first() is not None
    record = session.exec(
        select(IdempotencyRecord)
        .where(IdempotencyRecord.token_id == token_id, IdempotencyRecord.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    if inserted:
        return record
    if as_utc(record.created_at) < now - RETENTION:
        return _restart(session, record, request_hash, now)
    if record.request_hash != request_hash:
        raise IdempotencyConflict(422, "This Idempotency-Key was used with a different body.")
    if record.state == IdempotencyState.DONE:
        return Replay(status_code=record.status_code or 200, body=record.response_body)
    if as_utc(record.updated_at) > now - LEASE:
        raise IdempotencyConflict(409, "A request with this Idempotency-Key is still running.")
    return _restart(session, record, request_hash, now)  # the first attempt died


def _restart(
    session: Session, record: IdempotencyRecord, request_hash: str, now: datetime
) -> IdempotencyRecord:
    record.request_hash, record.state = request_hash, IdempotencyState.IN_FLIGHT
    record.status_code, record.response_body = None, ""
    record.created_at = record.updated_at = now
    session.add(record)
    return record


def complete(
    session: Session, *, record_id: int, status_code: int, body: str, now: datetime
) -> None:
    """Store the response to replay (in the same transaction as the work)."""
    record = session.get(IdempotencyRecord, record_id)
    record.state, record.status_code, record.response_body = (
        IdempotencyState.DONE,
        status_code,
        body,
    )
    record.updated_at = now
    session.add(record)


def release(session: Session, *, record_id: int) -> None:
    """Drop a claim whose request failed, so the key can be retried."""
    record = session.get(IdempotencyRecord, record_id)
    if record is not None and record.state == IdempotencyState.IN_FLIGHT:
        session.delete(record)


@dataclass
class Slot:
    """What `idempotent` hands the view: a replay to return, or a claim to complete."""

    session: Session
    record: IdempotencyRecord | None = None
    replay: Replay | None = None

    def complete(self, *, status_code: int, body: str, now: datetime) -> None:
        """Store the response to replay, in the same transaction as the work."""
        if self.record is not None:
            complete(
                self.session, record_id=self.record.id, status_code=status_code, body=body, now=now
            )


@contextmanager
def idempotent(
    session: Session, *, token_id: int, key: str | None, request_hash: str, now: datetime
) -> Iterator[Slot]:
    """The Idempotency-Key protocol around one request's work (no key: just the work).

    The claim commits on its own before the work starts, so a concurrent retry sees it
    (409) and a retry after success gets the replay. If the work fails, the claim is
    released (and that committed), so the client may retry with the same key. Raises
    IdempotencyConflict on entry; the caller commits the work and its stored response.
    """
    if key is None:
        yield Slot(session)
        return
    outcome = claim(session, token_id=token_id, key=key, request_hash=request_hash, now=now)
    session.commit()
    if isinstance(outcome, Replay):
        yield Slot(session, replay=outcome)
        return
    try:
        yield Slot(session, record=outcome)
    except BaseException:
        session.rollback()
        release(session, record_id=outcome.id)
        session.commit()
        raise
