"""Signatures: what Vigil sends verifies; a changed body, secret, or an old timestamp does not."""

from __future__ import annotations

import hashlib
import hmac

from moderation.notify.signing import sign, verify

SECRET = "whsec_test"
BODY = b'{"id":"e1","type":"decision.final","created_at":"2026-01-01T00:00:00.000000Z","data":{}}'


def test_sign_is_v1_hmac_sha256_of_timestamp_dot_body():
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, 1700000000, BODY) == "v1=" + expected


def test_verify_accepts_only_the_exact_body_secret_and_a_fresh_timestamp():
    signature = sign(SECRET, 1700000000, BODY)
    assert verify(SECRET, "1700000000", BODY, signature, now=1700000100)
    assert not verify(SECRET, "1700000000", BODY + b" ", signature, now=1700000100)
    assert not verify(SECRET, "1700000000", BODY.replace(b"e1", b"e2"), signature, now=1700000000)
    assert not verify("whsec_other", "1700000000", BODY, signature, now=1700000000)
    assert not verify(SECRET, "1700000001", BODY, signature, now=1700000000)
    assert not verify(SECRET, "1700000000", BODY, signature, now=1700000301)  # stale
    assert not verify(SECRET, "1700000000", BODY, signature, now=1699999699)  # future
    assert verify(SECRET, "1700000000", BODY, signature, now=1700000030, tolerance=30)
    assert not verify(SECRET, "1700000000", BODY, signature, now=1700000031, tolerance=30)


def test_verify_refuses_malformed_headers():
    signature = sign(SECRET, 1700000000, BODY)
    assert not verify(SECRET, "", BODY, signature, now=1700000000)
    assert not verify(SECRET, "soon", BODY, signature, now=1700000000)
    assert not verify(SECRET, "1700000000", BODY, "", now=1700000000)
    assert not verify(SECRET, "1700000000", BODY, signature.removeprefix("v1="), now=1700000000)
    assert not verify(SECRET, "1700000000", BODY, signature.upper(), now=1700000000)
