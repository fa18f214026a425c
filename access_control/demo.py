"""Demo staff and end-user accounts; their logins are generated once into instance/."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import click
import pyotp
from sqlmodel import Session

from access_control import accounts
from access_control.models import User
from core.timeutil import utcnow

DEMO_PEOPLE = [
    ("admin@vigil.example", "Ada Admin", ["admin"]),
    ("auditor@vigil.example", "Aud Itor", ["auditor"]),
    ("reviewer@vigil.example", "Rey Viewer", ["reviewer:general"]),
    ("specialist@vigil.example", "Spec Ialist", ["specialist:child_safety"]),
    ("second@vigil.example", "Sec Ond", ["specialist:child_safety", "specialist:general"]),
    ("appeals@vigil.example", "App Eals", ["reviewer:appeals"]),
    ("qa@vigil.example", "Quinn Assurance", ["qa"]),
    ("legal@vigil.example", "Lee Gal", ["specialist:legal"]),
    ("user@vigil.example", "Una User", []),
]


def _logins_path(instance: Path) -> Path:
    return instance / "demo-logins.json"


def saved_logins(instance: Path) -> dict | None:
    """The demo logins made earlier, if any."""
    path = _logins_path(instance)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _load_or_make_logins(instance: Path) -> dict:
    path = _logins_path(instance)
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    logins = {
        email: {
            "password": "demo-" + secrets.token_urlsafe(9),
            "totp_secret": pyotp.random_base32() if roles else None,
            "roles": roles,
            "name": name,
        }
        for email, name, roles in DEMO_PEOPLE
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(logins, handle, indent=2)
    return logins


def seed_accounts(session: Session, instance: Path) -> dict:
    """Create the demo accounts that are missing; return the logins."""
    logins = _load_or_make_logins(instance)
    for email, info in logins.items():
        if accounts.find_by_email(session, email) is not None:
            continue
        user: User = accounts.create_account(
            session, actor=None, email=email, display_name=info["name"], password=info["password"]
        )
        for role in info["roles"]:
            accounts.grant_role(
                session, actor=None, user=user, role=role, reason="demo data", authorize=None
            )
        if info["totp_secret"]:
            user.totp_secret, user.mfa_enrolled_at = info["totp_secret"], utcnow()
            session.add(user)
    return logins


def print_logins(logins: dict) -> None:
    """Print demo logins for local use."""
    click.echo("Demo logins (local use only; stored in instance/demo-logins.json):")
    for email, info in logins.items():
        roles = ", ".join(info["roles"]) or "end user"
        line = f"  {email:28} {info['password']:20} {roles}"
        if info["totp_secret"]:
            line += f"   TOTP secret {info['totp_secret']}"
        click.echo(line)
    click.echo("Current TOTP code for a demo account: flask --app app demo-totp EMAIL")


def current_code(instance: Path, email: str) -> str:
    """The current TOTP code for a demo account."""
    info = _load_or_make_logins(instance).get(email)
    if not info or not info["totp_secret"]:
        raise click.ClickException(f"{email} is not a demo staff account")
    return pyotp.TOTP(info["totp_secret"]).now()
