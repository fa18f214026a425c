"""Command-line groups: db, users, policy, seed-demo, demo."""

from __future__ import annotations

import secrets

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from core.db import session_scope

db_cli = AppGroup("db", help="Database schema.")
users_cli = AppGroup("users", help="Accounts.")
policy_cli = AppGroup("policy", help="Authorization policy.")


def _engine():
    return current_app.extensions["vigil.engine"]


@db_cli.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations, then load the baseline policy into an empty policy table."""
    from access_control.policy import load_baseline
    from core import migrate

    migrate.upgrade(_engine(), revision)
    with session_scope(_engine()) as session:
        added = load_baseline(session)
    click.echo(f"database at {revision}; baseline policy rows added: {added}")


@db_cli.command("revision")
@click.option("-m", "--message", required=True)
def db_revision(message: str) -> None:
    """Autogenerate a migration from the models (developers)."""
    from core import migrate

    migrate.revision(_engine(), message)


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--name", default=None, help="Display name (defaults to the email's local part).")
@click.option("--role", "roles", multiple=True, help="Role to grant; repeatable.")
@click.option("--password", default=None, help="Omit to generate one (printed once).")
def users_create(
    email: str, name: str | None, roles: tuple[str, ...], password: str | None
) -> None:
    """Create an account; staff enrol TOTP at first sign-in."""
    from access_control import accounts

    password = password or secrets.token_urlsafe(12)
    try:
        with session_scope(_engine()) as session:
            user = accounts.create_account(
                session,
                actor=None,
                email=email,
                display_name=name or email.split("@")[0],
                password=password,
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
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"created {user.email} with roles: {', '.join(roles) or 'none'}")
    click.echo(f"password (shown once): {password}")


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
    from sqlmodel import select

    from access_control.models import PolicyRule
    from access_control.policy import current_version

    with session_scope(_engine()) as session:
        click.echo(f"policy version {current_version(session)}")
        for row in session.exec(select(PolicyRule).order_by(PolicyRule.id)):
            click.echo(", ".join((row.ptype, *row.values())))


@click.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Only seed a database without accounts.")
def seed_demo(if_empty: bool) -> None:
    """Create harmless demo accounts and data (idempotent) and print the logins."""
    from access_control.accounts import count_accounts
    from core.demo import print_logins, saved_logins, seed

    if current_app.config["VIGIL"]["ENV"] == "production":
        raise click.ClickException("demo data is never seeded in production")
    instance = current_app.config["VIGIL_INSTANCE"]
    with session_scope(_engine()) as session:
        if if_empty and count_accounts(session) > 0:
            logins = saved_logins(instance)
            if logins is None:
                click.echo("The database already has accounts; no demo data added.")
                return
        else:
            logins = seed(session, instance)
    print_logins(logins)


@click.command("demo-totp")
@click.argument("email")
def demo_totp(email: str) -> None:
    """Print the current TOTP code of a demo account (development only)."""
    from core.demo import current_code

    if current_app.config["VIGIL"]["ENV"] == "production":
        raise click.ClickException("not available in production")
    click.echo(current_code(current_app.config["VIGIL_INSTANCE"], email))


def register_cli(app: Flask) -> None:
    """Attach every command group to the app."""
    from audit.cli import attach_key_commands, audit_cli

    for command in (db_cli, users_cli, policy_cli, seed_demo, demo_totp, audit_cli):
        app.cli.add_command(command)
    attach_key_commands(app)
