"""Credentials the admin never holds: one-time enrolment links for new staff, and resets
that a second admin approves. The person sets their own password, then enrols TOTP."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Session, col, select

from access_control import passwords
from access_control.accounts import AccountError, rotate_sessions
from access_control.journal import EventType, record_event
from access_control.models import (
    AccountStatus,
    Invitation,
    InvitePurpose,
    RecoveryCode,
    User,
)
from core.timeutil import as_utc


class LinkError(AccountError):
    """The link is unknown, used, expired or not approved (the person asks for a new one)."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _label(actor: User | None) -> str:
    return actor.label if actor is not None else "system (command line)"


def _journal(session, event_type, *, actor, user, reason="", after=None) -> None:
    record_event(
        session,
        event_type=event_type,
        actor=actor,
        target_type="account",
        target_id=user.id or "",
        target_label=user.label,
        reason=reason,
        after=after,
    )


def invite(
    session: Session, *, actor: User | None, user: User, lifetime: timedelta, now: datetime
) -> str:
    """A one-time enrolment link token for a new account (shown once; only its hash kept)."""
    token = secrets.token_urlsafe(32)
    session.add(
        Invitation(
            user_id=user.id,
            purpose=InvitePurpose.ENROL,
            token_hash=hash_token(token),
            requested_by=getattr(actor, "id", None),
            requested_by_label=_label(actor),
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    _journal(
        session,
        EventType.ACCOUNT_INVITED,
        actor=actor,
        user=user,
        after={"expires": str(now + lifetime)},
    )
    return token


def request_reset(
    session: Session, *, actor: User, user: User, reason: str, now: datetime
) -> Invitation:
    """Ask for a password and second-factor reset; a second admin must approve it."""
    reason = reason.strip()
    if not reason or len(reason) > 500:
        raise AccountError("Say why the reset is needed (1 to 500 characters).")
    if actor.id == user.id:
        raise AccountError("Reset your own credentials from your account page.", 403)
    if pending_resets(session, user_id=user.id):
        raise AccountError("A reset of this account is already waiting for approval.", 409)
    row = Invitation(
        user_id=user.id,
        purpose=InvitePurpose.RESET,
        reason=reason,
        requested_by=actor.id,
        requested_by_label=actor.label,
        created_at=now,
    )
    session.add(row)
    _journal(session, EventType.ACCOUNT_RESET_REQUESTED, actor=actor, user=user, reason=reason)
    return row


def pending_resets(session: Session, *, user_id: int | None = None) -> list[Invitation]:
    """Reset requests nobody approved or refused yet."""
    query = select(Invitation).where(
        Invitation.purpose == InvitePurpose.RESET,
        col(Invitation.approved_at).is_(None),
        col(Invitation.refused_at).is_(None),
    )
    if user_id is not None:
        query = query.where(Invitation.user_id == user_id)
    return list(session.exec(query.order_by(col(Invitation.id))))


def _pending_reset(session: Session, reset_id: int) -> Invitation:
    row = session.get(Invitation, reset_id, with_for_update=True)
    if row is None or row.purpose != InvitePurpose.RESET or row.approved_at or row.refused_at:
        raise AccountError("That reset is not waiting for approval.", 409)
    return row


def approve_reset(
    session: Session, *, actor: User, reset_id: int, lifetime: timedelta, now: datetime
) -> tuple[User, str]:
    """A second admin approves: the old credentials end now, and a one-time link (returned
    once, for out-of-band delivery) lets the person set new ones."""
    row = _pending_reset(session, reset_id)
    user = session.get(User, row.user_id)
    if actor.id in (row.requested_by, row.user_id):
        raise AccountError("A second admin, not the requester or the account, approves.", 403)
    token = secrets.token_urlsafe(32)
    row.token_hash, row.approved_by, row.approved_at = hash_token(token), actor.id, now
    row.expires_at = now + lifetime
    session.add(row)
    _clear_credentials(session, user)
    _journal(session, EventType.ACCOUNT_RESET_APPROVED, actor=actor, user=user, reason=row.reason)
    return user, token


def refuse_reset(session: Session, *, actor: User, reset_id: int, reason: str, now: datetime):
    """A second admin refuses the reset (journaled)."""
    row = _pending_reset(session, reset_id)
    if actor.id == row.requested_by:
        raise AccountError("The requester cannot decide their own request.", 403)
    row.refused_at = now
    session.add(row)
    user = session.get(User, row.user_id)
    _journal(session, EventType.ACCOUNT_RESET_REFUSED, actor=actor, user=user, reason=reason)
    return row


def _clear_credentials(session: Session, user: User) -> None:
    user.password_hash = passwords.hash_password(secrets.token_urlsafe(32))  # nobody knows it
    user.totp_secret, user.totp_last_step, user.mfa_enrolled_at = None, 0, None
    rotate_sessions(user)
    session.add(user)
    session.execute(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user.id))


def find_link(session: Session, token: str, *, now: datetime) -> Invitation:
    """The live invitation behind a link token, or LinkError."""
    if not token or len(token) > 128:
        raise LinkError("This link is not valid.", 404)
    row = session.exec(select(Invitation).where(Invitation.token_hash == hash_token(token))).first()
    if row is None:
        raise LinkError("This link is not valid.", 404)
    if row.used_at is not None:
        raise LinkError("This link was already used. Ask an admin for a new one.", 410)
    if row.expires_at is None or as_utc(row.expires_at) <= now:
        raise LinkError("This link has expired. Ask an admin for a new one.", 410)
    user = session.get(User, row.user_id)
    if user is None or user.status != AccountStatus.ACTIVE:
        raise LinkError("This account is not active.", 410)
    return row


def redeem(session: Session, *, token: str, password: str, address: str, now: datetime) -> User:
    """Use the link once: the person's own password; TOTP enrolment comes next."""
    row = find_link(session, token, now=now)
    session.refresh(row, with_for_update=True)  # two tabs: one wins
    if row.used_at is not None:
        raise LinkError("This link was already used. Ask an admin for a new one.", 410)
    if problem := passwords.password_problem(password):
        raise AccountError(problem)
    user = session.get(User, row.user_id)
    _clear_credentials(session, user)
    user.password_hash = passwords.hash_password(password)
    session.add(user)
    row.used_at, row.used_from = now, address[:64]
    session.add(row)
    _journal(
        session, EventType.ACCOUNT_ENROLLED, actor=user, user=user, after={"from": address[:64]}
    )
    return user


def enrolment_of(session: Session, *, user_id: int) -> Invitation | None:
    """The account's latest used link (when and from where it was used), for approvers."""
    return session.exec(
        select(Invitation)
        .where(Invitation.user_id == user_id, col(Invitation.used_at).is_not(None))
        .order_by(col(Invitation.id).desc())
    ).first()
