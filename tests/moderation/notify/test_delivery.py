"""Delivery against a real HTTP receiver: signed, retried on schedule, never twice after a 2xx."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta
from itertools import pairwise

from sqlmodel import Session

from core.db import make_engine, session_scope
from core.sealed_text import attach_keys
from core.timeutil import as_utc, utcnow
from moderation.notify.delivery import Outcome, claim_delivery, deliver_due, record_attempt
from moderation.notify.endpoints import disable_endpoint
from moderation.notify.models import DeliveryAttempt, DeliveryState, WebhookDelivery
from moderation.notify.settings import WebhookSettings
from moderation.notify.signing import verify
from tests.moderation.notify.conftest import DROP, FAST, HOOK_PATH, add_hook, enqueue_event, rows


def _engine(app):
    return app.extensions["vigil.engine"]


def test_every_delivery_is_signed_with_the_endpoints_secret(app, receiver):
    receiver.secret = add_hook(app, receiver.url)
    sent = {
        enqueue_event(app, "decision.final", case=1): "decision.final",
        enqueue_event(app, "appeal.filed", appeal=2): "appeal.filed",
    }
    summary = deliver_due(_engine(app), now=utcnow(), settings=FAST)

    assert (summary.delivered, summary.retrying, summary.failed) == (2, 0, 0)
    assert len(receiver.received) == 2 and all(r.verified for r in receiver.received)
    for request in receiver.received:
        body = request.envelope()
        assert request.path == HOOK_PATH and request.headers["Content-Type"] == "application/json"
        assert request.headers["User-Agent"] == "Vigil-Webhooks/1"
        assert request.headers["Vigil-Event-Id"] == body["id"]
        assert request.headers["Vigil-Event-Type"] == body["type"] == sent[body["id"]]
        assert request.headers["Vigil-Signature"].startswith("v1=")
        assert set(body) == {"id", "type", "created_at", "data"}
        # A receiver's check fails for a body changed in transit, or under another secret.
        timestamp, signature = (
            request.headers["Vigil-Timestamp"],
            request.headers["Vigil-Signature"],
        )
        tampered = request.body.replace(b'"data":{', b'"data":{"x":1,')
        assert not verify(receiver.secret, timestamp, tampered, signature, now=int(timestamp))
        assert not verify("whsec_wrong", timestamp, request.body, signature, now=int(timestamp))
    assert {d.state for d in rows(app, WebhookDelivery)} == {DeliveryState.DELIVERED}
    assert [a.status_code for a in rows(app, DeliveryAttempt)] == [200, 200]


def test_a_failed_attempt_is_retried_only_after_the_backoff_then_delivered(app, receiver):
    receiver.secret = add_hook(app, receiver.url)
    receiver.script = [500, DROP]
    event_id = enqueue_event(app)
    start = utcnow()
    settings = replace(FAST, max_attempts=5)

    def deliver_at(seconds: float):
        return deliver_due(_engine(app), now=start + timedelta(seconds=seconds), settings=settings)

    assert deliver_at(0).retrying == 1  # 500
    assert deliver_at(29).retrying == 0 and len(receiver.received) == 1  # backoff 30 s
    assert deliver_at(31).retrying == 1  # connection dropped
    assert deliver_at(90).retrying == 0 and len(receiver.received) == 2  # backoff 60 s
    assert deliver_at(92).delivered == 1
    assert deliver_at(10_000).delivered == 0

    assert [r.event_id for r in receiver.received] == [event_id] * 3
    assert all(r.verified for r in receiver.received)
    assert len({r.body for r in receiver.received}) == 1  # the same envelope every time
    assert receiver.delivered() == {event_id: 1}
    (delivery,) = rows(app, WebhookDelivery)
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("delivered", 3, 200)
    log = rows(app, DeliveryAttempt)
    assert [a.status_code for a in log] == [500, None, 200]
    assert log[0].error == "HTTP 500" and log[1].error and log[2].error == ""
    gaps = [as_utc(b.attempted_at) - as_utc(a.attempted_at) for a, b in pairwise(log)]
    assert gaps[0] >= timedelta(seconds=30) and gaps[1] >= timedelta(seconds=60)


def test_a_redirect_is_a_failure_and_is_not_followed(app, receiver):
    receiver.secret = add_hook(app, receiver.url)
    receiver.script = [302]
    enqueue_event(app)
    summary = deliver_due(_engine(app), now=utcnow(), settings=replace(FAST, max_attempts=1))

    assert summary.failed == 1 and summary.delivered == 0
    assert [(r.method, r.path) for r in receiver.received] == [("POST", HOOK_PATH)]
    (delivery,) = rows(app, WebhookDelivery)
    assert (delivery.state, delivery.last_status) == ("failed", 302)
    assert "redirects are not followed" in delivery.last_error


def test_an_unreachable_endpoint_is_retried_then_failed_after_max_attempts(app, unreachable_url):
    secret = add_hook(app, unreachable_url)
    enqueue_event(app)
    start = utcnow()
    passes = [
        deliver_due(_engine(app), now=start + timedelta(seconds=s), settings=FAST)
        for s in (0, 31, 92, 1_000, 100_000)
    ]
    assert [(p.retrying, p.failed) for p in passes] == [(1, 0), (1, 0), (0, 1), (0, 0), (0, 0)]
    (delivery,) = rows(app, WebhookDelivery)
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("failed", 3, None)
    log = rows(app, DeliveryAttempt)
    assert len(log) == 3 and all(a.status_code is None for a in log)
    assert all("connection failed" in a.error and secret not in a.error for a in log)


def test_a_receiver_slower_than_the_timeout_is_a_failure(app, receiver):
    receiver.secret = add_hook(app, receiver.url)
    receiver.script = [("sleep", 0.6)]
    enqueue_event(app)
    settings = replace(FAST, timeout_seconds=0.2)
    assert deliver_due(_engine(app), now=utcnow(), settings=settings).retrying == 1
    (attempt,) = rows(app, DeliveryAttempt)
    assert attempt.status_code is None and "timed out" in attempt.error


def test_disabled_endpoints_get_nothing(app, receiver):
    receiver.secret = add_hook(app, receiver.url)
    enqueue_event(app)
    with session_scope(_engine(app)) as session:
        disable_endpoint(session, name="chat-backend")
    assert deliver_due(_engine(app), now=utcnow(), settings=FAST).delivered == 0
    assert receiver.received == []


def test_nothing_is_posted_twice_when_delivering_again_and_again(app, receiver):
    receiver.secret = add_hook(app, receiver.url)
    ids = {enqueue_event(app, case=n) for n in range(5)}
    start = utcnow()
    totals = [
        deliver_due(_engine(app), now=start + timedelta(hours=h), settings=FAST).delivered
        for h in range(4)
    ]
    assert totals == [5, 0, 0, 0]
    assert receiver.delivered() == dict.fromkeys(ids, 1) and len(receiver.received) == 5


def test_two_deliverers_at_once_post_each_event_once(app, receiver, database_url):
    receiver.secret = add_hook(app, receiver.url)
    receiver.delay = 0.005  # keeps each claim open while the other deliverer runs
    ids = {enqueue_event(app, case=n) for n in range(24)}
    # The second deliverer has its own engine and pool, as another process would.
    other = make_engine(database_url)
    attach_keys(other, app.extensions["vigil.keys"].evidence)
    start = utcnow()
    barrier = threading.Barrier(2)
    summaries, errors = [], []

    def run(engine) -> None:
        try:
            barrier.wait()
            summaries.append(deliver_due(engine, now=start, settings=FAST))
        except Exception as exc:  # surfaced below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in (_engine(app), other)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        other.dispose()
    assert errors == []
    assert sum(s.delivered for s in summaries) == 24
    assert receiver.delivered() == dict.fromkeys(ids, 1) and len(receiver.received) == 24
    assert deliver_due(_engine(app), now=start + timedelta(days=1), settings=FAST).delivered == 0
    assert len(receiver.received) == 24


def test_a_claim_is_compare_and_set_and_a_late_failure_never_overwrites(app):
    add_hook(app, "https://chat.example/hook")
    enqueue_event(app)
    (delivery,) = rows(app, WebhookDelivery)
    factory = _sessions(app)
    now, lease = utcnow(), timedelta(seconds=60)

    first = claim_delivery(factory, delivery.id, now=now, lease=lease)
    assert first is not None and "whsec_" not in repr(first)
    assert (
        claim_delivery(factory, delivery.id, now=now + timedelta(seconds=59), lease=lease) is None
    )
    # The lease ran out (the first deliverer hung): another may take it over.
    second = claim_delivery(factory, delivery.id, now=now + timedelta(seconds=61), lease=lease)
    assert second is not None
    # The hung deliverer's failure comes back late: logged, but the delivery is not its own.
    assert record_attempt(factory, first, _outcome(now, 500), settings=FAST) is None
    assert record_attempt(factory, second, _outcome(now, 204), settings=FAST) == "delivered"
    assert claim_delivery(factory, delivery.id, now=now + timedelta(days=9), lease=lease) is None
    (delivery,) = rows(app, WebhookDelivery)
    assert (delivery.state, delivery.attempts, delivery.leased_until) == ("delivered", 1, None)
    assert [a.status_code for a in rows(app, DeliveryAttempt)] == [500, 204]


def test_backoff_doubles_from_the_base_up_to_the_cap():
    settings = WebhookSettings()  # the defaults: 30 s base, 6 h cap, 10 attempts
    waits = [settings.backoff(n).total_seconds() for n in range(1, 13)]
    assert waits[:4] == [30, 60, 120, 240]
    assert waits[9] == 15360 and waits[10:] == [21600, 21600]
    assert settings.lease > timedelta(seconds=2 * settings.timeout_seconds)


def _sessions(app):
    return lambda: Session(_engine(app), expire_on_commit=False)


def _outcome(at, status):
    return Outcome(attempted_at=at, status=status, error="", duration_ms=1)
