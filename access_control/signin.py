"""Sign-in verbs: password step (throttled, no enumeration) and second factor."""

from __future__ import annotations

from flask import current_app, request
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlmodel import Session

from access_control import accounts, mfa, passwords
from access_control.accounts import find_by_email, is_staff, normalize_email, rotate_sessions
from access_control.journal import EventType, record_event
from access_control.models import AccountStatus, User
from core import throttle
from core.config import setting

BAD_LOGIN = "Email or password is incorrect."


DEVICE_COOKIE = "vigil_device"
DEVICE_DAYS = 90
_DEVICE_SALT = "vigil-known-device"


def _devices() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_DEVICE_SALT)


def device_token(user: User) -> str:
    """What a browser keeps after a full sign-in with a second factor: it marks it as
    a known device of this account (signed; it grants nothing by itself)."""
    return _devices().dumps({"u": user.id})


def known_device(user: User | None) -> bool:
    """Whether this request comes from a browser where the account signed in fully."""
    raw = request.cookies.get(DEVICE_COOKIE, "")
    if user is None or not user.totp_secret or not raw or len(raw) > 200:
        return False
    try:
        data = _devices().loads(raw, max_age=DEVICE_DAYS * 86400)
    except BadData:
        return False
    return isinstance(data, dict) and data.get("u") == user.id


def _limits(email: str) -> list[tuple[str, str]]:
    return [
        (setting("LOGIN_LIMIT_PER_ACCOUNT"), throttle.key_for("login-account", email)),
        (
            setting("LOGIN_LIMIT_PER_ADDRESS"),
            throttle.key_for("login-addr", request.remote_addr or ""),
        ),
    ]


def _record_failure(session: Session, user: User, step: str) -> None:
    # After the right password the person typing is the account's holder (or has its
    # password): the journal names the account; a wrong password names only the address.
    record_event(
        session,
        event_type=EventType.AUTH_LOGIN_FAILED,
        actor=None if step == "password" else user,
        anonymous=f"someone at {request.remote_addr or 'an unknown address'}",
        target_type="account",
        target_id=user.id or "",
        target_label=user.label,
        reason=step,
    )


def check_password(session: Session, *, email: str, password: str) -> User | None:
    """The account if the password is right; throttles and counts failures (429 when spent).

    The trade-off (README "Sessions"): the per-address limit always holds; the
    per-account one does not hold for a known device of an account with a second
    factor, so nobody can lock a staff member out by failing their password on purpose,
    while a stranger's browser stays stopped at the limit."""
    email = normalize_email(email)
    limits = _limits(email)
    throttle.enforce(limits[1:])
    user = find_by_email(session, email)
    if not known_device(user):
        throttle.enforce(limits[:1])
    ok = passwords.verify_password(user.password_hash if user else None, password)
    if ok and user is not None and user.status == AccountStatus.ACTIVE:
        if passwords.needs_rehash(user.password_hash):
            user.password_hash = passwords.hash_password(password)
            session.add(user)
        return user
    throttle.count(limits)
    if user is not None:
        _record_failure(session, user, "password")
    return None


def next_stage(session: Session, user: User) -> str:
    """What comes after the password: 'mfa', 'enroll' (staff without TOTP) or 'done'."""
    if user.totp_secret:
        return "mfa"
    return "enroll" if is_staff(session, user) else "done"


def check_second_factor(session: Session, *, user: User, code: str, recovery_code: str) -> bool:
    """Accept a fresh TOTP code or an unused recovery code; throttled per account, on a
    budget of its own (only someone past the password can spend it)."""
    limits = [(setting("LOGIN_LIMIT_PER_ACCOUNT"), throttle.key_for("mfa-account", user.email))]
    throttle.enforce(limits)
    if code and mfa.verify_totp(session, user=user, code=code):
        return True
    if recovery_code and mfa.use_recovery_code(session, user=user, code=recovery_code):
        return True
    throttle.count(limits)
    _record_failure(session, user, "second factor")
    return False


def confirm_password(session: Session, *, user: User, password: str, purpose: str) -> bool:
    """Check a signed-in account's password before a weighty step; wrong guesses spend the
    sign-in budget and are journaled, so a stolen session cannot try passwords freely."""
    limits = _limits(user.email)[:1]
    throttle.enforce(limits)
    if passwords.verify_password(user.password_hash, password):
        return True
    throttle.count(limits)
    _record_failure(session, user, purpose)
    return False


def change_password(session: Session, *, user: User, current: str, new: str) -> User:
    """Change a password once the current one is confirmed (see confirm_password)."""
    confirm_password(session, user=user, password=current, purpose="password change")
    return accounts.change_password(session, user=user, current=current, new=new)


def record_login(session: Session, user: User) -> None:
    """Journal a completed sign-in."""
    record_event(
        session,
        event_type=EventType.AUTH_LOGIN,
        actor=user,
        target_type="account",
        target_id=user.id or "",
        target_label=user.label,
    )


def sign_out(session: Session, user: User) -> None:
    """End every session of the account and journal it."""
    rotate_sessions(user)
    session.add(user)
    record_event(
        session,
        event_type=EventType.AUTH_LOGOUT,
        actor=user,
        target_type="account",
        target_id=user.id or "",
        target_label=user.label,
    )
