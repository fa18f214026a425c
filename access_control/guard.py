"""Declare on each view who may call it: @requires(obj, act) or @public."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort, current_app, flash, session
from flask_login import current_user, logout_user

from access_control.models import User
from access_control.permissions import OBJECTS, Resource
from access_control.policy import EnforcerHolder, check
from core.db import get_session


def holder() -> EnforcerHolder:
    """This app's per-process enforcer cache."""
    return current_app.extensions["vigil.enforcer"]


def authorize(user: User | None, obj: str | Resource, act: str, *, queue: str = "*") -> bool:
    """Ask the policy about the current request's session; errors deny."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return check(holder(), get_session(), user, obj, act, queue)


def _is_staff(user: User) -> bool:
    from access_control.policy import roles_of

    return bool(roles_of(get_session(), user))


def requires(obj: str, act: str, *, on_deny: Callable | None = None) -> Callable:
    """Guard a view: sign-in required, then the policy must allow obj/act.

    `on_deny(*args, **kwargs)` runs before the 403 (content routes log the refusal there).
    """
    if obj not in OBJECTS:
        raise ValueError(f"unknown object {obj!r}")

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()
            if not session.get("mfa") and _is_staff(current_user._get_current_object()):
                # Signed in without a second factor, then granted a staff role: sign in again.
                logout_user()
                session.clear()
                flash("Staff accounts sign in with a second factor. Please sign in again.")
                return current_app.login_manager.unauthorized()
            if not authorize(current_user._get_current_object(), obj, act):
                if on_deny is not None:
                    on_deny(*args, **kwargs)
                abort(403)
            return view(*args, **kwargs)

        guarded.vigil_guard = (obj, act)
        return guarded

    return decorate


def public(view: Callable) -> Callable:
    """Mark a view as open to anyone, on purpose."""
    view.vigil_public = True
    return view


def signed_in(view: Callable) -> Callable:
    """Any signed-in, active account (its own pages); the policy still applies."""
    return requires("self_service", "use")(view)
