"""Service tokens for the chat backend: shown once, stored as SHA-256, scoped, revocable."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import g, request
from sqlmodel import Session, col, select

from access_control.journal import EventType, record_event
from access_control.models import ServiceToken
from core.db import get_session
from core.timeutil import utcnow
from core.web import problem

# Every scope a token can carry, declared once.
SCOPES = ("reports:write", "conversations:write", "privacy:write")
TOKEN_PREFIX = "vgl_"  # noqa: S105 (a public prefix that makes leaked tokens greppable)


class TokenError(ValueError):
    """A token Vigil refuses to create or revoke."""


def hash_token(token: str) -> str:
    """The stored form of a token. Tokens carry 256 random bits, so a plain hash suffices."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(
    session: Session, *, name: str, scopes: tuple[str, ...]
) -> tuple[ServiceToken, str]:
    """Create a token; returns the row and the secret, which is never stored or shown again."""
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if not scopes or unknown:
        raise TokenError(f"scopes must be some of {', '.join(SCOPES)}")
    if not name.strip() or len(name) > 80:
        raise TokenError("a token needs a name of at most 80 characters")
    if session.exec(select(ServiceToken.id).where(ServiceToken.name == name)).first():
        raise TokenError(f"a token named {name!r} already exists")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ServiceToken(name=name, token_hash=hash_token(secret), scopes=" ".join(sorted(scopes)))
    session.add(row)
    session.flush()
    record_event(
        session,
        event_type=EventType.TOKEN_CREATED,
        actor=None,
        target_type="service_token",
        target_id=row.id,
        target_label=name,
        after={"name": name, "scopes": row.scopes},
    )
    return row, secret


def revoke_token(session: Session, *, name: str, reason: str) -> ServiceToken:
    """Revoke a token by name; it stops working on the next request."""
    row = session.exec(select(ServiceToken).where(ServiceToken.name == name)).first()
    if row is None:
        raise TokenError(f"no token named {name!r}")
    if row.revoked_at is not None:
        raise TokenError(f"token {name!r} is already revoked")
    row.revoked_at = utcnow()
    session.add(row)
    record_event(
        session,
        event_type=EventType.TOKEN_REVOKED,
        actor=None,
        target_type="service_token",
        target_id=row.id,
        target_label=name,
        reason=reason,
    )
    return row


def authenticate(session: Session, *, token: str) -> ServiceToken | None:
    """The live token this secret belongs to, if any."""
    query = select(ServiceToken).where(
        ServiceToken.token_hash == hash_token(token), col(ServiceToken.revoked_at).is_(None)
    )
    return session.exec(query).first()


def _bearer() -> str:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def token_required(scope: str) -> Callable:
    """Guard an API view: a live service token with `scope` (401/403 as problem details)."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            secret = _bearer()
            row = authenticate(get_session(), token=secret) if secret else None
            if row is None:
                response = problem(401, "A valid service token is required.")
                response.headers["WWW-Authenticate"] = 'Bearer realm="vigil"'
                return response
            if not row.has_scope(scope):
                return problem(403, f"This token lacks the {scope} scope.")
            g.service_token = row
            return view(*args, **kwargs)

        guarded.vigil_guard = ("token", scope)
        return guarded

    return decorate
