"""Command line: the `webhooks` group (add, list, disable, deliver, log)."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlmodel import Session, col, select

from core.config import ConfigError
from core.db import session_scope
from core.timeutil import as_utc, utcnow
from moderation.notify.endpoints import (
    EndpointError,
    add_endpoint,
    disable_endpoint,
    list_endpoints,
)
from moderation.notify.models import (
    DeliveryAttempt,
    OutboxEvent,
    WebhookDelivery,
    WebhookEndpoint,
)
from moderation.notify.settings import webhook_settings

webhooks_cli = AppGroup("webhooks", help="Signed webhooks to the chat backend.")


def _engine():
    return current_app.extensions["vigil.engine"]


@webhooks_cli.command("add")
@click.option("--name", required=True, help="a-z, 0-9 and '-', e.g. chat-backend.")
@click.option("--url", required=True, help="http:// or https:// URL that receives the POSTs.")
def webhooks_add(name: str, url: str) -> None:
    """Add an endpoint and print its signing secret once."""
    try:
        with session_scope(_engine()) as session:
            _, secret = add_endpoint(session, name=name, url=url)
    except EndpointError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"webhook {name} -> {url}")
    click.echo("signing secret, shown only once; store it with the receiver now:")
    click.echo(secret)


@webhooks_cli.command("list")
def webhooks_list() -> None:
    """List endpoints with their deliveries by state (never the secret)."""
    with Session(_engine()) as session:
        rows = list_endpoints(session)
    for row in rows:
        state = "active" if row.active else "disabled"
        counts = f"pending {row.pending}, delivered {row.delivered}, failed {row.failed}"
        click.echo(f"{row.name:24} {state:8} {counts:44} {row.url}")


@webhooks_cli.command("disable")
@click.option("--name", required=True)
def webhooks_disable(name: str) -> None:
    """Stop sending to an endpoint (its pending deliveries stay, unsent)."""
    try:
        with session_scope(_engine()) as session:
            disable_endpoint(session, name=name)
    except EndpointError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"disabled webhook {name}")


@webhooks_cli.command("deliver")
@click.option("--every", type=int, default=0, help="Repeat every N seconds (a sidecar).")
def webhooks_deliver(every: int) -> None:
    """Deliver every due event once; with --every, keep going until interrupted."""
    import time

    from moderation.notify.delivery import deliver_due

    while True:
        summary = deliver_due(_engine(), now=utcnow())
        click.echo(summary.line())
        if not every:
            return
        try:
            time.sleep(every)
        except KeyboardInterrupt:
            return


@webhooks_cli.command("log")
@click.option("--event", "event_id", default=None, help="Only this event id.")
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True)
def webhooks_log(event_id: str | None, limit: int) -> None:
    """The delivery log, newest attempt first: time, endpoint, event, answer, duration."""
    query = (
        select(DeliveryAttempt, WebhookEndpoint.name, OutboxEvent.event_id, OutboxEvent.event_type)
        .join(WebhookDelivery, col(WebhookDelivery.id) == DeliveryAttempt.delivery_id)
        .join(WebhookEndpoint, col(WebhookEndpoint.id) == WebhookDelivery.endpoint_id)
        .join(OutboxEvent, col(OutboxEvent.id) == WebhookDelivery.outbox_event_id)
        .order_by(col(DeliveryAttempt.id).desc())
        .limit(limit)
    )
    if event_id:
        query = query.where(OutboxEvent.event_id == event_id)
    with Session(_engine()) as session:
        rows = session.exec(query).all()
    for row, name, event, event_type in rows:
        answer = str(row.status_code) if row.status_code is not None else "-"
        when = as_utc(row.attempted_at).strftime("%Y-%m-%dT%H:%M:%SZ")
        line = f"{when} {name} {event} {event_type} {answer} {row.duration_ms}ms {row.error}"
        click.echo(line.rstrip())


def init_app(app: Flask) -> None:
    """Read the webhook settings once (a bad value stops start-up) and attach `webhooks`."""
    try:
        app.extensions["vigil.webhooks"] = webhook_settings(app.config["VIGIL"])
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"webhooks: {exc}") from exc
    app.cli.add_command(webhooks_cli)
