"""Command-line groups of access control: users, policy, tokens, demo-totp."""

from __future__ import annotations

import secrets

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlmodel import select

from access_control.models import ServiceToken
from access_control.tokens import SCOPES, TokenError, create_token, revoke_token
from core.config import setting
from core.db import session_scope

users_cli = AppGroup("users", help="Accounts.")
policy_cli = AppGroup("policy", help="Authorization policy.")


def _engine():
    return current_app.extensions["vigil.engine"]


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--name", default=None, help="Display name (defaults to the email's local part).")
@click.option("--role", "roles", multiple=True, help="Role to grant; repeatable.")
def users_create(email: str, name: str | None, roles: tuple[str, ...]) -> None:
    """Create an account and print its one-time enrolment link (nobody else learns the
    password: the person chooses it, then enrols TOTP). Roles granted here take effect at
    once: the operator on the host is the second pair of eyes."""
    from datetime import timedelta

    from access_control import accounts, enrolment
    from core.timeutil import utcnow

    try:
        with session_scope(_engine()) as session:
            user = accounts.create_account(
                session,
                actor=None,
                email=email,
                display_name=name or email.split("@")[0],
                password=secrets.token_urlsafe(32),
            )
            for role in roles:
                accounts.grant_role(
                    session,
                    actor=None,
                    user=user,
                    role=role,
                    reason="created on the command line",
                    authorize=None,
                )
            hours = setting("ENROL_LINK_HOURS")
            token = enrolment.invite(
                session, actor=None, user=user, lifetime=timedelta(hours=hours), now=utcnow()
            )
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"created {user.email} with roles: {', '.join(roles) or 'none'}")
    click.echo(f"enrolment link (works once, for {hours} h; shown only now): /enrol/{token}")
    click.echo("open it on Vigil's own address, e.g. http://127.0.0.1:5000/enrol/...")


@users_cli.command("disable")
@click.option("--email", required=True)
@click.option("--reason", required=True)
def users_disable(email: str, reason: str) -> None:
    """Disable an account and end its sessions."""
    from access_control import accounts
    from access_control.models import AccountStatus

    with session_scope(_engine()) as session:
        user = accounts.find_by_email(session, email)
        if user is None:
            raise click.ClickException(f"no account {email}")
        accounts.set_status(
            session, actor=None, user=user, status=AccountStatus.DISABLED, reason=reason
        )
    click.echo(f"disabled {email}")


@policy_cli.command("show")
def policy_show() -> None:
    """Print the policy rows and version."""
    from access_control.models import PolicyRule
    from access_control.policy import current_version

    with session_scope(_engine()) as session:
        click.echo(f"policy version {current_version(session)}")
        for row in session.exec(select(PolicyRule).order_by(PolicyRule.id)):
            click.echo(", ".join((row.ptype, *row.values())))


def _policy_change(verb: str, row: str, reason: str) -> None:
    from access_control.policy import PolicyError
    from access_control.policy_changes import apply_change, parse_change

    try:
        change = parse_change(verb, row)
        with session_scope(_engine()) as session:
            apply_change(session, actor=None, change=change, reason=reason)
    except PolicyError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"applied: {change.describe()}")


ROW_HELP = 'The row, e.g. "p, reviewer:general, general, queue, read, any, allow".'


@policy_cli.command("add")
@click.option("--row", required=True, help=ROW_HELP)
@click.option("--reason", required=True, help="Why (journaled).")
def policy_add(row: str, reason: str) -> None:
    """Add a policy row (validated, journaled, versioned; every worker reloads)."""
    _policy_change("add", row, reason)


@policy_cli.command("remove")
@click.option("--row", required=True, help=ROW_HELP)
@click.option("--reason", required=True, help="Why (journaled).")
def policy_remove(row: str, reason: str) -> None:
    """Remove a policy row (a baseline row stays removed across upgrades)."""
    _policy_change("remove", row, reason)


tokens_cli = AppGroup("tokens", help="Service tokens for the chat backend.")


@tokens_cli.command("create")
@click.option("--name", required=True, help="Who uses it, e.g. chat-backend-prod.")
@click.option("--scope", "scopes", multiple=True, required=True, type=click.Choice(SCOPES))
def tokens_create(name: str, scopes: tuple[str, ...]) -> None:
    """Create a token and print it once."""
    try:
        with session_scope(_engine()) as session:
            _, secret = create_token(session, name=name, scopes=scopes)
    except TokenError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"token {name} ({' '.join(sorted(scopes))}); shown once, store it now:")
    click.echo(secret)


@tokens_cli.command("revoke")
@click.option("--name", required=True)
@click.option("--reason", required=True)
def tokens_revoke(name: str, reason: str) -> None:
    """Revoke a token by name."""
    try:
        with session_scope(_engine()) as session:
            revoke_token(session, name=name, reason=reason)
    except TokenError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"revoked {name}")


@tokens_cli.command("list")
def tokens_list() -> None:
    """List tokens (names, scopes, state; never secrets)."""
    with session_scope(_engine()) as session:
        for row in session.exec(select(ServiceToken).order_by(ServiceToken.name)):
            state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
            click.echo(f"{row.name:32} {row.scopes:36} {state}")


@click.command("demo-totp")
@click.argument("email")
@with_appcontext
def demo_totp(email: str) -> None:
    """Print the current TOTP code of a demo account (development only)."""
    from access_control.demo import current_code

    if setting("ENV") == "production":
        raise click.ClickException("not available in production")
    click.echo(current_code(current_app.config["VIGIL_INSTANCE"], email))


def init_app(app: Flask) -> None:
    """Attach the users, policy and tokens groups and demo-totp."""
    for command in (users_cli, policy_cli, tokens_cli, demo_totp):
        app.cli.add_command(command)
