"""Account verbs: create, disable/enable, change password, grant/revoke roles."""

from __future__ import annotations

import secrets

from sqlmodel import Session, func, select

from access_control import passwords
from access_control.journal import EventType, record_event
from access_control.models import AccountStatus, User
from access_control.permissions import Resource, is_role
from access_control.policy import (
    PolicyError,
    Rule,
    add_rule,
    offered_roles,
    remove_rule,
    roles_of,
)


class AccountError(ValueError):
    """An account change Vigil refuses, with a message and an HTTP status for the asker."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def normalize_email(email: str) -> str:
    """Compare and store addresses in one form."""
    return email.strip().lower()


def find_by_email(session: Session, email: str) -> User | None:
    """The account with this address, if any."""
    return session.exec(select(User).where(User.email == normalize_email(email))).first()


def rotate_sessions(user: User) -> None:
    """End every session of this account (their cookies carry the old token)."""
    user.session_token = secrets.token_urlsafe(24)


def create_account(
    session: Session,
    *,
    actor: User | None,
    email: str,
    display_name: str,
    password: str,
) -> User:
    """Create an account with a hashed password (caller commits)."""
    email = normalize_email(email)
    if "@" not in email or len(email) > 254:
        raise AccountError("Enter a valid email address.")
    if not display_name.strip() or len(display_name) > 120:
        raise AccountError("Enter a name of at most 120 characters.")
    if problem := passwords.password_problem(password):
        raise AccountError(problem)
    if find_by_email(session, email) is not None:
        raise AccountError("An account with this email address already exists.", 409)
    user = User(
        email=email,
        display_name=display_name.strip(),
        password_hash=passwords.hash_password(password),
    )
    session.add(user)
    session.flush()
    record_event(
        session,
        event_type=EventType.ACCOUNT_CREATED,
        actor=actor,
        target_type="account",
        target_id=user.id or "",
        target_label=user.label,
        after={"email": email, "display_name": user.display_name},
    )
    return user


def set_status(
    session: Session, *, actor: User | None, user: User, status: AccountStatus, reason: str
) -> User:
    """Disable or re-enable an account; disabling ends its sessions at once."""
    if actor is not None and actor.id == user.id:
        raise AccountError("You cannot change the status of your own account.", 403)
    before = str(user.status)
    user.status = status
    rotate_sessions(user)
    session.add(user)
    record_event(
        session,
        event_type=EventType.ACCOUNT_DISABLED
        if status == AccountStatus.DISABLED
        else EventType.ACCOUNT_ENABLED,
        actor=actor,
        target_type="account",
        target_id=user.id or "",
        target_label=user.label,
        reason=reason,
        before={"status": before},
        after={"status": str(status)},
    )
    return user


def change_password(session: Session, *, user: User, current: str, new: str) -> User:
    """Change a password after checking the current one; ends every other session."""
    if not passwords.verify_password(user.password_hash, current):
        raise AccountError("The current password is not correct.")
    if problem := passwords.password_problem(new):
        raise AccountError(problem)
    user.password_hash = passwords.hash_password(new)
    rotate_sessions(user)
    session.add(user)
    record_event(
        session,
        event_type=EventType.ACCOUNT_PASSWORD_CHANGED,
        actor=user,
        target_type="account",
        target_id=user.id or "",
        target_label=user.label,
    )
    return user


def check_grant(actor: User | None, user: User, role: str, authorize) -> None:
    if not is_role(role):
        raise AccountError(f"Unknown role {role!r}.")
    if actor is None:
        return  # the operator on the host, through the command line
    target = Resource(kind="role_grant", owner=user.subject)
    if not authorize(actor, target, "write"):
        if actor.id == user.id:
            raise AccountError("Nobody can grant or revoke their own roles.", 403)
        raise AccountError("You may not change roles.", 403)


def grant_role(
    session: Session,
    *,
    actor: User | None,
    user: User,
    role: str,
    reason: str,
    authorize,
    approved: bool = False,
) -> None:
    """Grant a role through the policy service; self-grants are refused by policy.

    A person's grant happens only as the approval of a second admin (role_requests);
    `actor` None is the operator on the host, through the command line.
    """
    check_grant(actor, user, role, authorize)
    if actor is not None and not approved:
        raise AccountError("A role grant needs a second admin's approval: request it.", 403)
    if role not in offered_roles(session):
        raise AccountError(f"{role} grants nothing: the policy has no rows for it.")
    rotate_sessions(user)  # a new role starts with a fresh sign-in (and its second factor)
    session.add(user)
    try:
        add_rule(session, actor=actor, rule=Rule("g", (user.subject, role)), reason=reason)
    except PolicyError as exc:
        raise AccountError(f"{user.email} already holds {role}.", 409) from exc


def revoke_role(
    session: Session, *, actor: User | None, user: User, role: str, reason: str, authorize
) -> None:
    """Revoke a role through the policy service."""
    check_grant(actor, user, role, authorize)
    rotate_sessions(user)
    session.add(user)
    try:
        remove_rule(session, actor=actor, rule=Rule("g", (user.subject, role)), reason=reason)
    except PolicyError as exc:
        raise AccountError(f"{user.email} does not hold {role}.", 409) from exc


def is_staff(session: Session, user: User) -> bool:
    """Staff hold at least one role; MFA is mandatory for them."""
    return bool(roles_of(session, user))


def count_accounts(session: Session) -> int:
    """How many accounts exist."""
    return session.exec(select(func.count()).select_from(User)).one()
