"""Webhook endpoints: added with a generated secret (shown once), listed, disabled."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import func
from sqlmodel import Session, col, select

from access_control.journal import EventType, record_event
from moderation.notify.models import DeliveryState, WebhookDelivery, WebhookEndpoint

NAME_PATTERN = re.compile(r"[a-z0-9-]{1,64}")
MAX_URL_LENGTH = 2000
SCHEMES = ("http", "https")
SECRET_PREFIX = "whsec_"  # noqa: S105 (a public prefix that makes leaked secrets greppable)


class EndpointError(ValueError):
    """An endpoint Vigil refuses to add or change."""


@dataclass(frozen=True)
class EndpointSummary:
    """One endpoint as `webhooks list` shows it: never its secret."""

    name: str
    url: str
    active: bool
    pending: int
    delivered: int
    failed: int


def check_name(name: str) -> str:
    """The name if it is 1-64 characters of a-z, 0-9 and '-'."""
    if not NAME_PATTERN.fullmatch(name):
        raise EndpointError("a webhook name is 1-64 characters of a-z, 0-9 and '-'")
    return name


def check_url(url: str) -> str:
    """The URL if it is an absolute http(s) URL with a host, at most 2000 characters."""
    if len(url) > MAX_URL_LENGTH:
        raise EndpointError(f"a webhook URL has at most {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError as exc:
        raise EndpointError(f"not a valid URL: {exc}") from None
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise EndpointError("a webhook URL must be http:// or https:// with a host")
    if any(char.isspace() for char in url):
        raise EndpointError("a webhook URL cannot contain spaces")
    return url


def new_secret() -> str:
    """A signing secret with 256 random bits."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def find_endpoint(session: Session, name: str) -> WebhookEndpoint:
    """The endpoint called `name`; EndpointError if there is none."""
    row = session.exec(select(WebhookEndpoint).where(WebhookEndpoint.name == name)).first()
    if row is None:
        raise EndpointError(f"no webhook named {name!r}")
    return row


def add_endpoint(session: Session, *, name: str, url: str) -> tuple[WebhookEndpoint, str]:
    """Add an active endpoint; returns the row and its secret (shown once, stored sealed)."""
    check_name(name)
    check_url(url)
    if session.exec(select(WebhookEndpoint.id).where(WebhookEndpoint.name == name)).first():
        raise EndpointError(f"a webhook named {name!r} already exists")
    secret = new_secret()
    row = WebhookEndpoint(name=name, url=url, secret=secret)
    session.add(row)
    session.flush()
    record_event(
        session,
        event_type=EventType.WEBHOOK_ADDED,
        actor=None,
        target_type="webhook_endpoint",
        target_id=row.id,
        target_label=name,
        after={"name": name, "host": urlsplit(url).hostname},  # no userinfo in the journal
    )
    return row, secret


def disable_endpoint(session: Session, *, name: str) -> WebhookEndpoint:
    """Stop sending to an endpoint; its pending deliveries wait, none are sent."""
    row = find_endpoint(session, name)
    if not row.active:
        raise EndpointError(f"webhook {name!r} is already disabled")
    row.active = False
    session.add(row)
    record_event(
        session,
        event_type=EventType.WEBHOOK_DISABLED,
        actor=None,
        target_type="webhook_endpoint",
        target_id=row.id,
        target_label=name,
        before={"active": True},
        after={"active": False},
    )
    return row


def list_endpoints(session: Session) -> list[EndpointSummary]:
    """Every endpoint by name, with its deliveries counted by state."""
    counts: dict[tuple[int, str], int] = {}
    rows = session.exec(
        select(WebhookDelivery.endpoint_id, WebhookDelivery.state, func.count()).group_by(
            col(WebhookDelivery.endpoint_id), col(WebhookDelivery.state)
        )
    )
    for endpoint_id, state, count in rows:
        counts[(endpoint_id, DeliveryState(state))] = count
    return [
        EndpointSummary(
            name=row.name,
            url=row.url,
            active=row.active,
            pending=counts.get((row.id, DeliveryState.PENDING), 0),
            delivered=counts.get((row.id, DeliveryState.DELIVERED), 0),
            failed=counts.get((row.id, DeliveryState.FAILED), 0),
        )
        for row in session.exec(select(WebhookEndpoint).order_by(WebhookEndpoint.name))
    ]
