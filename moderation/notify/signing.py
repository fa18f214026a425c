"""Webhook signatures: HMAC-SHA256 over "<timestamp>.<body>", sent as "v1=<hex>".

`sign` is what Vigil sends; `verify` is what a receiver runs (docs/webhooks.md shows it
without Vigil). Both take the secret as the text `webhooks add` printed.
"""

from __future__ import annotations

import hashlib
import hmac

SCHEME = "v1"
TOLERANCE_SECONDS = 300  # a signature older or newer than this is refused (replays)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The Vigil-Signature header for this body sent at this Unix time."""
    message = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return f"{SCHEME}={digest}"


def verify(
    secret: str,
    timestamp_header: str,
    body: bytes,
    signature_header: str,
    *,
    now: float,
    tolerance: int = TOLERANCE_SECONDS,
) -> bool:
    """True when the signature is ours for exactly this body and the timestamp is fresh.

    `now` is the receiver's Unix time; the comparison is constant-time.
    """
    try:
        timestamp = int(timestamp_header)
    except (TypeError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body)
    return hmac.compare_digest(expected.encode(), (signature_header or "").encode())
