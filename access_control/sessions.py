"""flask-login wiring: a session is valid only while the account's token matches."""

from __future__ import annotations

import hmac
import time

from flask import Flask, session
from flask_login import LoginManager, login_user

from access_control.models import AccountStatus, User
from core.config import setting
from core.db import get_session

PENDING_SECONDS = 300  # password accepted, second factor still due


def load_user(value: str) -> User | None:
    """flask-login's loader: the account, if active and the token still matches.

    The cookie names the account and its session token (User.get_id); rotating the
    token on logout, password change or disable makes every older cookie useless.
    """
    user_id, _, token = value.partition(".")
    if not user_id.isdigit() or not token or len(user_id) > 10:
        return None
    # An absolute lifetime: however active, a session ends SESSION_HOURS after sign-in
    # (the cookie's own lifetime slides with every request; this does not).
    started = session.get("started_at")
    if not isinstance(started, int) or time.time() - started > setting("SESSION_HOURS") * 3600:
        return None
    user = get_session().get(User, int(user_id))
    if user is None or user.status != AccountStatus.ACTIVE:
        return None
    return user if hmac.compare_digest(user.session_token, token) else None


def start_session(user: User, *, mfa: bool) -> None:
    """Sign in with a fresh session (no fixation: everything before is dropped).

    `mfa` records whether this session passed a second factor; staff-only pages refuse
    sessions without it (see guard.requires), whatever roles the account gains later.
    """
    session.clear()
    session.permanent = True
    session["mfa"] = mfa
    session["started_at"] = int(time.time())
    login_user(user)


def set_pending(user: User, stage: str) -> None:
    """Remember that the password was right; the second factor is still due."""
    session.clear()
    session["pending"] = {"uid": user.id, "token": user.session_token, "stage": stage}
    session["pending_at"] = int(time.time())


def pending_user() -> tuple[User | None, str]:
    """The account waiting for its second factor, and the stage (mfa or enroll)."""
    data = session.get("pending")
    if not data or time.time() - session.get("pending_at", 0) > PENDING_SECONDS:
        return None, ""
    user = get_session().get(User, data["uid"])
    if user is None or user.status != AccountStatus.ACTIVE:
        return None, ""
    if not hmac.compare_digest(user.session_token, data["token"]):
        return None, ""
    return user, data["stage"]


def init_login(app: Flask, manager: LoginManager) -> None:
    """Attach flask-login to the app."""
    manager.init_app(app)
    manager.login_view = "auth.login"
    manager.login_message = "Please sign in."
    manager.session_protection = "basic"
    manager.user_loader(load_user)
